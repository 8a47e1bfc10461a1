import { CircuitOpenError, DependencyUnavailableError } from '@vh/domain';
import { isTransientCassandraError } from './cassandra-errors';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before one probe is let through. */
  openMs: number;
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

/**
 * Around Cassandra calls in the read path: after repeated transient failures, callers get a 503 at
 * once instead of piling up on a struggling cluster; after `openMs` one probe goes through (half-open)
 * and its outcome closes or re-opens the circuit. Non-transient errors do not count.
 */
export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get current(): BreakerState {
    return this.state;
  }

  async execute<T>(operation: () => Promise<T>): Promise<T> {
    if (this.state === 'open') {
      const waited = this.now() - this.openedAt;
      if (waited < this.options.openMs) throw this.rejection(this.options.openMs - waited);
      this.transition('half-open');
    }
    // In half-open only the probe's outcome counts: a call begun before the circuit opened (stuck until
    // the driver's timeout, longer than the open interval) neither re-opens it nor frees the probe's slot.
    const probe = this.state === 'half-open';
    if (probe) {
      if (this.probing) throw this.rejection(this.options.openMs);
      this.probing = true;
    }
    try {
      const result = await operation();
      this.failures = 0;
      if (this.state !== 'closed') this.transition('closed');
      return result;
    } catch (error) {
      const transient = error instanceof DependencyUnavailableError || isTransientCassandraError(error);
      const counts = probe || this.state === 'closed';
      if (transient && counts && (probe || ++this.failures >= this.options.failureThreshold)) {
        this.openedAt = this.now();
        this.transition('open');
      }
      throw error;
    } finally {
      if (probe) this.probing = false;
    }
  }

  private transition(state: BreakerState): void {
    this.state = state;
    if (state === 'closed') this.failures = 0;
    this.options.onStateChange?.(state);
  }

  private rejection(retryInMs: number): CircuitOpenError {
    return new CircuitOpenError(
      'cassandra',
      'circuit open after repeated failures',
      Math.max(1, Math.ceil(retryInMs / 1000)),
    );
  }
}
