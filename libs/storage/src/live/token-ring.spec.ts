import { splitTokenRing } from './live-history.repository';

describe('splitTokenRing', () => {
  it.each([1, 3, 16, 1000])('covers the whole Murmur3 ring once with %i contiguous ranges', (count) => {
    const ranges = splitTokenRing(count);
    expect(ranges).toHaveLength(count);
    expect(ranges[0][0]).toBe(-(2n ** 63n));
    expect(ranges[count - 1][1]).toBe(2n ** 63n - 1n);
    for (let i = 1; i < count; i++) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
    for (const [start, end] of ranges) expect(end > start).toBe(true);
  });
});
