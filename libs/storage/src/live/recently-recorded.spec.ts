import { RecentlyRecorded } from './recently-recorded';

describe('RecentlyRecorded', () => {
  it('remembers a key until it expires', () => {
    let now = 1_000;
    const recorded = new RecentlyRecorded(10, 500, () => now);
    expect(recorded.has('a')).toBe(false);
    recorded.add('a');
    expect(recorded.has('a')).toBe(true);
    now = 1_499;
    expect(recorded.has('a')).toBe(true);
    now = 1_500;
    expect(recorded.has('a')).toBe(false);
    expect(recorded.size).toBe(0);
  });

  it('forgets the least recently added key first when full', () => {
    const recorded = new RecentlyRecorded(2, 60_000);
    recorded.add('a');
    recorded.add('b');
    recorded.add('a'); // refreshed: now the newest
    recorded.add('c');
    expect(recorded.has('b')).toBe(false);
    expect(recorded.has('a')).toBe(true);
    expect(recorded.has('c')).toBe(true);
    expect(recorded.size).toBe(2);
  });

  it('forgets the keys a predicate picks (the rows an erasure deleted), and no others', () => {
    const recorded = new RecentlyRecorded(10, 60_000);
    for (const key of ['d1|p1', 'late|d2|p1', 'd1|p2']) recorded.add(key);
    recorded.forgetWhere((key) => key.endsWith('|p1'));
    expect(['d1|p1', 'late|d2|p1', 'd1|p2'].map((k) => recorded.has(k))).toEqual([false, false, true]);
  });

  it('answers what was written under the keys it forgets that it still remembered, not under expired ones', () => {
    let now = 0;
    const recorded = new RecentlyRecorded<{ day: string; profileId: string }>(10, 500, () => now);
    recorded.add('d1|p1', { day: 'd1', profileId: 'p1' });
    now = 400;
    recorded.add('d2|p1', { day: 'd2', profileId: 'p1' });
    recorded.add('d2|p2', { day: 'd2', profileId: 'p2' });
    now = 600; // d1|p1 expired
    expect(recorded.forgetWhere((_, row) => row.profileId === 'p1')).toEqual([{ day: 'd2', profileId: 'p1' }]);
    expect(recorded.size).toBe(1);
  });
});
