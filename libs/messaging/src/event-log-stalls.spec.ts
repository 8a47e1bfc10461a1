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

  it('asks for a log line when a stall starts or changes reason, then at most once a minute', () => {
    const stalls = new EventLogStalls();
    expect(stalls.stall(0, 'a', 0)).toBe(true);
    expect(stalls.stall(0, 'a', 5_000)).toBe(false);
    expect(stalls.stall(0, 'b', 6_000)).toBe(true);
    expect(stalls.stall(0, 'b', 30_000)).toBe(false);
    expect(stalls.stall(0, 'b', 66_000)).toBe(true);
    stalls.clear(0);
    expect(stalls.stall(0, 'b', 67_000)).toBe(true);
  });
});
