/** How many requests one process may work on at once, and what it learns from each answered one. */
export interface InFlightLimit {
  /** The bound now: a request is shed while this many are in flight. */
  readonly current: number;
  /** One admitted request answered: ms from its admission, and how many were in flight as it was answered. */
  sample(latencyMs: number, inFlight: number, nowMs: number): void;
  /** A request refused (for any reason) meanwhile. */
  refused(): void;
}

/** The operator's bound, as configured. */
export class FixedInFlightLimit implements InFlightLimit {
  constructor(readonly current: number) {}
  sample(): void {}
  refused(): void {}
}

export type InFlightLimitMode = 'adaptive' | 'fixed';
