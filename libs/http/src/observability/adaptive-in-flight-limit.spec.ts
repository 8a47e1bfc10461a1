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

/** A limit with ceiling `max` that learned 10 ms answers, then was full for `slowWindows` windows of 50 ms ones. */
function loweredFrom(max: number, slowWindows: number) {
  const limit = new AdaptiveInFlightLimit(max);
  let now = feed(limit, 0, steady(20, 10, max));
  now = feed(limit, now, steady(slowWindows, 50, max));
  limit.sample(50, max, now); // closes the window open after the last
  expect(limit.current).toBeLessThan(max);
  return { limit, lowered: limit.current, now };
}

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

  it('never falls while fewer than half the bound are in flight, however slow the answers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ latencyMs: fc.double({ min: 0, max: 10_000, noNaN: true }), inFlight: fc.nat() })),
        (windows) => {
          // Lowered first (full and slow), so that falling further is possible.
          const { limit, lowered, ...at } = loweredFrom(100, 10);
          let now = at.now;
          let lowest = lowered;
          for (const w of windows) {
            now = feed(limit, now, [{ ...w, inFlight: w.inFlight % Math.ceil(limit.current / 2) }]);
            lowest = Math.min(lowest, limit.current);
          }
          expect(lowest).toBe(lowered);
        },
      ),
    );
  });

  it('while fewer than half are in flight, grows back only on answers within the tolerance (after an incident, a quiet process is not left with a low bound)', () => {
    const { limit, lowered, ...at } = loweredFrom(128, 30);
    let now = at.now;
    expect(lowered).toBeLessThan(20);
    // Two in flight, answers still slow: it stays.
    now = feed(limit, now, steady(50, 50, 2));
    limit.sample(50, 2, now);
    expect(limit.current).toBe(lowered);
    // Two in flight, answers as fast as usual, but requests refused meanwhile (the event loop rule holding the
    // process below half its bound in an overload): it stays.
    for (let i = 0; i < 50; i++) {
      limit.refused();
      now = feed(limit, now, [{ latencyMs: 10, inFlight: 2 }]);
    }
    expect(limit.current).toBe(lowered);
    // Two in flight, answers as fast as usual, nothing refused: back to the ceiling.
    feed(limit, now, steady(200, 10, 2));
    expect(limit.current).toBe(128);
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
