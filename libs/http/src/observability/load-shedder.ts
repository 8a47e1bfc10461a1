import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** Why a request was refused: too many in flight, or the process too far behind to start it soon. */
export type ShedReason = 'in_flight' | 'event_loop_delay';

/** How late the event loop has been running lately, in ms. */
export interface EventLoopDelaySource {
  currentDelayMs(): number;
  stop(): void;
}

/**
 * The event loop's mean delay over the last window (as fastify's under-pressure measures it). A request
 * waits in the socket for this long before any middleware sees it, so an in-flight bound alone cannot
 * see that queue: when the process is short of CPU, accepted requests would still wait without bound.
 */
export class EventLoopDelayMonitor implements EventLoopDelaySource {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private delayMs = 0;

  constructor(windowMs = 200, private readonly resolutionMs = 10) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
    this.timer = setInterval(() => this.sample(), windowMs).unref();
  }

  currentDelayMs(): number {
    return this.delayMs;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private sample(): void {
    const mean = this.histogram.count > 0 ? this.histogram.mean / 1e6 : 0;
    // The sampling timer itself is late by up to its resolution on an idle loop: not a delay.
    this.delayMs = Math.max(0, mean - this.resolutionMs);
    this.histogram.reset();
  }
}

/**
 * Admission control for one process: a request is admitted while fewer than `maxInFlight` are in flight
 * and the event loop is less than `maxEventLoopDelayMs` behind (0 turns that check off).
 */
export class LoadShedder {
  private inFlight = 0;

  constructor(
    private readonly maxInFlight: number,
    private readonly maxEventLoopDelayMs: number,
    private readonly delay: EventLoopDelaySource,
  ) {}

  /** Null when admitted (call `release` once it is answered), else why not. */
  admit(): ShedReason | null {
    if (this.inFlight >= this.maxInFlight) return 'in_flight';
    if (this.maxEventLoopDelayMs > 0 && this.delay.currentDelayMs() > this.maxEventLoopDelayMs) return 'event_loop_delay';
    this.inFlight++;
    return null;
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  get eventLoopDelayMs(): number {
    return this.delay.currentDelayMs();
  }

  stop(): void {
    this.delay.stop();
  }
}
