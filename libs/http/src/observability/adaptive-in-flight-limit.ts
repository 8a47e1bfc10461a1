import type { InFlightLimit } from './in-flight-limit';

/** The bound never falls below this (or the ceiling, if lower). */
const FLOOR = 8;
/** A window closes after this long and this many answers, whichever comes last. */
const WINDOW_MS = 100;
const MIN_SAMPLES_PER_WINDOW = 10;
/** The share of a window's new estimate taken, as the library's smoothing. */
const SMOOTHING = 0.2;
/** How slowly the long average follows: the library's 600 one-second windows. */
const LONG_TIME_CONSTANT_MS = 600_000;

/**
 * The bound found from latency, as Netflix's concurrency-limits library finds it (its Gradient2 limit): per
 * window, the mean latency of the answered requests (short) against a slow average of it (long); while short
 * exceeds long by more than `tolerance` (the library's 1.5 here; the apps' HTTP_IN_FLIGHT_TOLERANCE, 3: ADR 13),
 * the bound falls in proportion (by at most half a window before
 * smoothing), else it grows by its square root. Why: a fixed bound holds its number of requests in flight however
 * slowly they go, so on a process short of CPU they queue on it and their latency climbs through an overload
 * (bench/ANALYSIS.md, session 17: bound 128, median 460 to 2,305 ms in 8 s; bounds of 8-32 stayed flat). The
 * configured bound stays the ceiling.
 *
 * It never falls in a window that held fewer than half the bound in flight: the process was not limited by it,
 * so latency then says nothing about the bound (and a quiet process keeps its bound for a burst); it grows then
 * only while answers are within the tolerance and nothing is refused.
 * The long average follows a legitimately slower service within about ten minutes (LONG_TIME_CONSTANT_MS); under an overload that lasts longer it drifts up, and the bound with it (the
 * library's trade-off, kept).
 */
export class AdaptiveInFlightLimit implements InFlightLimit {
  private estimate: number;
  private readonly min: number;
  private longMs = NaN;
  private windows = 0;
  private windowStart = NaN;
  private lastUpdate = NaN;
  private windowCount = 0;
  private windowSum = 0;
  private windowMaxInFlight = 0;
  private windowRefused = false;

  constructor(
    private readonly max: number,
    private readonly tolerance = 1.5,
  ) {
    this.estimate = max;
    this.min = Math.min(max, FLOOR);
  }

  get current(): number {
    return Math.floor(this.estimate);
  }

  sample(latencyMs: number, inFlight: number, nowMs: number): void {
    if (Number.isNaN(this.windowStart)) this.windowStart = nowMs;
    this.windowCount++;
    this.windowSum += latencyMs;
    this.windowMaxInFlight = Math.max(this.windowMaxInFlight, inFlight);
    if (nowMs - this.windowStart < WINDOW_MS || this.windowCount < MIN_SAMPLES_PER_WINDOW) return;
    this.update(this.windowSum / this.windowCount, this.windowMaxInFlight, this.windowRefused, nowMs);
    this.windowStart = nowMs;
    this.windowCount = 0;
    this.windowSum = 0;
    this.windowMaxInFlight = 0;
    this.windowRefused = false;
  }

  refused(): void {
    this.windowRefused = true;
  }

  private update(shortMs: number, maxInFlight: number, refused: boolean, nowMs: number): void {
    // A mean of 0 (a coarse clock) would make the gradient 0/0 and the bound NaN, which admits everything.
    if (!(shortMs > 0 && Number.isFinite(shortMs))) return;
    // The first ten windows set the long average plainly; then it follows with a time constant, not a window
    // count, so that a window's length (longer when traffic is light) does not change how fast it follows.
    this.windows++;
    if (this.windows <= 10)
      this.longMs = Number.isNaN(this.longMs) ? shortMs : this.longMs + (shortMs - this.longMs) / this.windows;
    // A step of at most a second: after an idle gap the first window (perhaps an overloaded one) must not
    // replace what the average learned.
    else
      this.longMs +=
        (shortMs - this.longMs) * (1 - Math.exp(-Math.min(nowMs - this.lastUpdate, 1_000) / LONG_TIME_CONSTANT_MS));
    this.lastUpdate = nowMs;
    // Latency back to normal after a long overload: bring the long average down without waiting for it.
    if (this.longMs / shortMs > 2) this.longMs *= 0.95;
    if (maxInFlight < this.estimate / 2) {
      // Not limited by its bound, the process says nothing about the bound being too high: it never falls then.
      // But answers as fast as usual, with nothing refused, say it is well: it grows back, or after an incident the
      // bound would stay low for as long as traffic stays light, and refuse the next burst on an idle process. Not
      // while anything is refused: the event loop rule may be what holds it below half, in an overload.
      if (!refused && shortMs <= this.tolerance * this.longMs)
        this.estimate = Math.min(this.max, this.estimate + SMOOTHING * Math.sqrt(this.estimate));
      return;
    }
    const gradient = Math.max(0.5, Math.min(1, (this.tolerance * this.longMs) / shortMs));
    const next = this.estimate * gradient + Math.sqrt(this.estimate);
    this.estimate = Math.max(this.min, Math.min(this.max, this.estimate * (1 - SMOOTHING) + next * SMOOTHING));
  }
}
