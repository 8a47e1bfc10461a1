import { constants } from 'node:os';

/**
 * A signal while a step runs: the step fails with it, so that its own finally (private nodes, regions) and
 * run.ts's (the shared node's bench_* keyspace) run; run.ts then exits with 128 + the signal's number.
 */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }

  get exitCode(): number {
    return 128 + (constants.signals[this.signal] ?? 0);
  }
}

/** Runs a step that SIGINT or SIGTERM interrupts with Interrupted (its finally blocks still run). */
export async function interruptible<T>(run: () => Promise<T>): Promise<T> {
  let interrupt: (error: Interrupted) => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
  interrupted.catch(() => undefined);
  const onSignal = (signal: NodeJS.Signals) => interrupt(new Interrupted(signal));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    return await Promise.race([run(), interrupted]);
  } finally {
    process.removeListener('SIGINT', onSignal).removeListener('SIGTERM', onSignal);
  }
}
