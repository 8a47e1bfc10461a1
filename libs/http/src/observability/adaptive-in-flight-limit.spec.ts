import fc from 'fast-check';
import { AdaptiveInFlightLimit } from './adaptive-in-flight-limit';

/** Feeds windows of 100 ms, each of `samples` answers at `latencyMs` with `inFlight` in flight. */
function feed(limit: AdaptiveInFlightLimit, start: number, windows: { latencyMs: number; inFlight: number }[]): number {
  let now = start;
  for (const { latencyMs, inFlight } of windows) {
    for (let i = 0; i < 20; i++) limit.sample(latencyMs, inFlight, now + i * 5);
    now += 100;
  }
  return now;
}

const steady = (count: number, latencyMs: number, inFlight: number) =>
  Array.from({ length: count }, () => ({ latencyMs, inFlight }));

describe('AdaptiveInFlightLimit', () => {
  it('starts at its ceiling and stays within [min, ceiling] whatever it is fed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.record({ latencyMs: fc.double({ min: 0, max: 10_000, noNaN: true }), inFlight: fc.nat(400) }), {
          maxLength: 200,
        }),
        (max, windows) => {
          const limit = new AdaptiveInFlightLimit(max);
          expect(limit.current).toBe(max);
          feed(limit, 0, windows);
          expect(limit.current).toBeGreaterThanOrEqual(Math.min(8, max));
          expect(limit.current).toBeLessThanOrEqual(max);
        },
      ),
    );
  });

  it('neither grows nor falls while fewer than half the bound are in flight, however slow or fast the answers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ latencyMs: fc.double({ min: 0, max: 10_000, noNaN: true }), inFlight: fc.nat() })),
        (windows) => {
          const limit = new AdaptiveInFlightLimit(100);
          // Lowered first (full and slow), so that growing is possible too.
          let now = feed(limit, 0, steady(20, 10, 100));
          now = feed(limit, now, steady(10, 50, 100));
          limit.sample(50, 100, now); // closes the window open after the last
          const lowered = limit.current;
          expect(lowered).toBeLessThan(100);
          feed(
            limit,
            now,
            windows.map((w) => ({ ...w, inFlight: w.inFlight % Math.ceil(lowered / 2) })),
          );
          expect(limit.current).toBe(lowered);
        },
      ),
    );
  });

  it('keeps its ceiling while answers at the bound are as fast as they have been', () => {
    const limit = new AdaptiveInFlightLimit(64);
    feed(limit, 0, steady(200, 20, 64));
    expect(limit.current).toBe(64);
  });

  it('falls within a couple of seconds once answers at the bound slow down past the tolerance, never below the minimum', () => {
    const limit = new AdaptiveInFlightLimit(128);
    let now = feed(limit, 0, steady(20, 10, 100));
    now = feed(limit, now, steady(20, 40, 128));
    expect(limit.current).toBeLessThan(32);
    feed(limit, now, steady(100, 400, 128));
    expect(limit.current).toBe(8);
  });

  it('does not fall for answers within the tolerance (1.5x the long average)', () => {
    const limit = new AdaptiveInFlightLimit(128);
    const now = feed(limit, 0, steady(20, 10, 100));
    feed(limit, now, steady(50, 14, 128));
    expect(limit.current).toBe(128);
  });

  it('grows back to its ceiling once answers are fast again', () => {
    const limit = new AdaptiveInFlightLimit(128);
    let now = feed(limit, 0, steady(20, 10, 100));
    now = feed(limit, now, steady(30, 50, 128));
    const lowered = limit.current;
    expect(lowered).toBeLessThan(20);
    // Full at its bound, at the old speed: it grows by about a fifth of its square root a window.
    for (let i = 0; i < 400 && limit.current < 128; i++)
      now = feed(limit, now, [{ latencyMs: 10, inFlight: limit.current }]);
    expect(limit.current).toBe(128);
  });

  it('waits for enough answers before it judges a window (a few slow answers on a quiet process are no signal)', () => {
    const limit = new AdaptiveInFlightLimit(16);
    let now = feed(limit, 0, steady(20, 10, 16));
    limit.sample(10, 16, now); // closes the window open after the last
    for (let i = 0; i < 9; i++) limit.sample(5_000, 16, (now += 1_000));
    expect(limit.current).toBe(16);
  });
});
