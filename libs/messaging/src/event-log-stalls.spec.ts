import { EventLogStalls } from './event-log-stalls';

describe('EventLogStalls', () => {
  it('says which partitions stall and why, and forgets a partition once its batch went through', () => {
    const stalls = new EventLogStalls();
    expect(stalls.describe()).toEqual([]);
    stalls.stall(3, 'cassandra is unavailable: keyspace lacks migrations 1', 1_000);
    stalls.stall(1, 'cassandra is unavailable: no host', 2_000);
    expect(stalls.describe(11_000)).toEqual([
      'partition 3 stalled for 10 s: cassandra is unavailable: keyspace lacks migrations 1',
      'partition 1 stalled for 9 s: cassandra is unavailable: no host',
    ]);
    stalls.clear(3);
    expect(stalls.describe(11_000)).toEqual(['partition 1 stalled for 9 s: cassandra is unavailable: no host']);
  });

  it('asks for a log line when a stall starts, then at most once a minute per partition', () => {
    const stalls = new EventLogStalls();
    expect(stalls.stall(0, '12 events not written: a', 0)).toBe(true);
    expect(stalls.stall(0, '9 events not written: a', 5_000)).toBe(false);
    expect(stalls.stall(1, '3 events not written: a', 5_000)).toBe(true);
    expect(stalls.stall(0, '9 events not written: b', 30_000)).toBe(false);
    expect(stalls.describe(30_000)[0]).toMatch(/stalled for 30 s: 9 events not written: b$/);
    expect(stalls.stall(0, '9 events not written: b', 60_000)).toBe(true);
    stalls.clear(0);
    expect(stalls.stall(0, '9 events not written: b', 61_000)).toBe(true);
  });
});
