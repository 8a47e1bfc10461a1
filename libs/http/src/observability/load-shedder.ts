import { performance } from 'node:perf_hooks';
import { AdaptiveInFlightLimit } from './adaptive-in-flight-limit';
import { FixedInFlightLimit, InFlightLimit, InFlightLimitMode } from './in-flight-limit';

/** Why a request was refused: too many in flight, or the process too far behind to start it soon. */
export type ShedReason = 'in_flight' | 'event_loop_delay';

/** How late the event loop has been running lately, in ms. */
export interface EventLoopDelaySource {
  currentDelayMs(): number;
  stop(): void;
}

/**
 * How late a 10 ms ticker fires, averaged per tick over the last second (sliding). A request waits in
 * the socket about this long before any middleware sees it, so an in-flight bound alone cannot see
 * that queue: when the process is short of CPU, accepted requests would still wait without bound.
 * (Node's own `monitorEventLoopDelay` was tried first: a block right after its `reset()` went unrecorded.)
 */
export class EventLoopDelayMonitor implements EventLoopDelaySource {
  private readonly timer: NodeJS.Timeout;
  private lastTick = performance.now();
  /** Ticks of the window, oldest first: [when, how late]. */
  private readonly ticks: [number, number][] = [];
  private head = 0;
  private latenessSum = 0;

  // A second, not less: one request that blocks the loop for a few hundred ms (decoding a long
  // compressed history) must not shed the next ones; a loop late through a whole second is behind.
  constructor(
    private readonly windowMs = 1_000,
    private readonly resolutionMs = 10,
  ) {
    this.timer = setInterval(() => this.tick(), resolutionMs).unref();
  }

  currentDelayMs(): number {
    const count = this.ticks.length - this.head;
    return count > 0 ? this.latenessSum / count : 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    const late = Math.max(0, now - this.lastTick - this.resolutionMs);
    this.lastTick = now;
    this.ticks.push([now, late]);
    this.latenessSum += late;
    while (this.head < this.ticks.length - 1 && this.ticks[this.head][0] <= now - this.windowMs)
      this.latenessSum -= this.ticks[this.head++][1];
    if (this.head > 1_000) {
      this.ticks.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** How a process bounds its requests in flight (HTTP_IN_FLIGHT_LIMIT, HTTP_MAX_IN_FLIGHT, HTTP_IN_FLIGHT_TOLERANCE). */
export interface InFlightLimitSettings {
  mode: InFlightLimitMode;
  max: number;
  tolerance?: number;
}

function createInFlightLimit(settings: InFlightLimitSettings): InFlightLimit {
  return settings.mode === 'adaptive'
    ? new AdaptiveInFlightLimit(settings.max, settings.tolerance)
    : new FixedInFlightLimit(settings.max);
}

/**
 * Admission control for one process: a request is admitted while fewer are in flight than the in-flight limit
 * (the configured bound, or one found from latency below it) and the event loop is less than
 * `maxEventLoopDelayMs` behind (0 turns that check off).
 */
export class LoadShedder {
  private inFlight = 0;
  private readonly limit: InFlightLimit;

  constructor(
    limit: InFlightLimitSettings,
    private readonly maxEventLoopDelayMs: number,
    private readonly delay: EventLoopDelaySource,
    private readonly random: () => number = Math.random,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.limit = createInFlightLimit(limit);
  }

  /**
   * Null when admitted (call `release` once it is answered), else why not. Above the delay bound a
   * growing share is refused, all of it at twice the bound: refusing everything at once would empty
   * the process, the delay would fall, and it would swing between idle and swamped second by second.
   */
  admit(): ShedReason | null {
    const refused = this.refusal();
    if (refused) this.limit.refused();
    else this.inFlight++;
    return refused;
  }

  private refusal(): ShedReason | null {
    if (this.inFlight >= this.limit.current) return 'in_flight';
    if (this.maxEventLoopDelayMs > 0) {
      const excess = (this.delay.currentDelayMs() - this.maxEventLoopDelayMs) / this.maxEventLoopDelayMs;
      if (excess > 0 && this.random() < excess) return 'event_loop_delay';
    }
    return null;
  }

  /**
   * An admitted request answered `latencyMs` after its admission, or (undefined) its caller gone first: how long
   * a caller waited before giving up says nothing of how fast the process answers.
   */
  release(latencyMs?: number): void {
    if (this.inFlight === 0) return;
    if (latencyMs !== undefined) this.limit.sample(latencyMs, this.inFlight, this.clock());
    this.inFlight--;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** The in-flight bound now. */
  get inFlightLimit(): number {
    return this.limit.current;
  }

  get eventLoopDelayMs(): number {
    return this.delay.currentDelayMs();
  }

  stop(): void {
    this.delay.stop();
  }
}
