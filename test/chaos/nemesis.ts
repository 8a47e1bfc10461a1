import { AppStack } from '../support/app-stack';
import { PrivateInfrastructure } from '../support/private-infrastructure';
import { Random } from './random';
import { sleep } from './workload';

export const FAULT_KINDS = [
  'kill-app',
  'pause-app',
  'kill-cassandra',
  'stop-cassandra',
  'stop-kafka',
  'stop-redis',
  'compactor-fail-point',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** Offset from the start of the chaos phase, ms. */
  at: number;
  kind: FaultKind;
  /** A stack member for app faults. */
  target: string | null;
  /** How long the fault lasts before it is healed, ms. */
  holdMs: number;
  failPoint?: 'after-chunks' | 'after-switch';
}

/** When a fault was in force, healed included: 5xx answers inside it are expected. */
export interface FaultWindow extends PlannedFault {
  startedAt: number;
  healedAt: number;
  error?: string;
}

/** How long after a heal answers may still fail (reconnects, a circuit breaker still open). */
export const FAULT_GRACE_MS = 30_000;
/** Quiet time after a heal before the next fault, so the stack also runs (and is checked) between faults. */
const REST_AFTER_HEAL_MS = 10_000;
/**
 * How often each kind is drawn: a Cassandra restart takes a minute or two on the shared box, so
 * Cassandra faults are drawn less often than process faults, or they would fill the whole run.
 */
const WEIGHT: Record<FaultKind, number> = {
  'kill-app': 4,
  'pause-app': 3,
  'kill-cassandra': 1,
  'stop-cassandra': 1,
  'stop-kafka': 2,
  'stop-redis': 2,
  'compactor-fail-point': 2,
};

/**
 * The schedule of faults, from the seed alone: same seed, same faults at the same offsets. Faults run
 * one at a time; a fault that overruns delays the next one.
 */
export function planFaults(
  random: Random,
  durationMs: number,
  kinds: readonly FaultKind[],
  stack: AppStack,
  meanGapMs: number,
): PlannedFault[] {
  const faults: PlannedFault[] = [];
  if (kinds.length === 0) return faults;
  const apps = stack.members.map((m) => m.id);
  const compactors = stack.of('compactor').map((m) => m.id);
  let at = Math.round(meanGapMs / 2);
  while (at < durationMs) {
    const kind = random.pick(kinds.flatMap((k) => Array<FaultKind>(WEIGHT[k]).fill(k)));
    const fault: PlannedFault = { at, kind, target: null, holdMs: 0 };
    switch (kind) {
      case 'kill-app':
        fault.target = random.pick(apps);
        fault.holdMs = random.int(0, 3_000);
        break;
      case 'pause-app':
        // Past the ingest session timeout (6 s) and the compactor's lock (5 s) of the chaos stack.
        fault.target = random.pick(apps);
        fault.holdMs = random.int(8_000, 15_000);
        break;
      case 'compactor-fail-point':
        fault.target = random.pick(compactors);
        fault.failPoint = random.pick(['after-chunks', 'after-switch'] as const);
        fault.holdMs = 20_000;
        break;
      default:
        fault.holdMs = random.int(5_000, 20_000);
    }
    faults.push(fault);
    at += Math.round(meanGapMs * (0.5 + random.next()));
  }
  return faults;
}

export class Nemesis {
  readonly windows: FaultWindow[] = [];

  constructor(
    private readonly stack: AppStack,
    private readonly infra: PrivateInfrastructure,
    /** Forces a compaction of some profiles, as an operator would. */
    private readonly forceCompaction: () => Promise<void>,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  async run(faults: readonly PlannedFault[], startedAt: number, until: number): Promise<void> {
    let rested = 0;
    for (const fault of faults) {
      const wait = Math.max(startedAt + fault.at, rested) - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() >= until) break;
      const window: FaultWindow = { ...fault, startedAt: Date.now(), healedAt: 0 };
      this.windows.push(window);
      this.log(`fault ${fault.kind}${fault.target ? ` ${fault.target}` : ''} for ${fault.holdMs} ms`);
      try {
        await this.inject(fault);
      } catch (error) {
        window.error = (error as Error).message.slice(0, 500);
        await this.healAll().catch(() => undefined);
      }
      window.healedAt = Date.now();
      rested = window.healedAt + REST_AFTER_HEAL_MS;
      this.log(
        `healed ${fault.kind} after ${window.healedAt - window.startedAt} ms${window.error ? `: ${window.error}` : ''}`,
      );
    }
  }

  /** Everything running again: services started, processes started and continued. */
  async healAll(): Promise<void> {
    await this.infra.start();
    for (const member of this.stack.members) {
      if (member.pid !== undefined) {
        try {
          process.kill(member.pid, 'SIGCONT');
        } catch {
          // exited
        }
      }
      if (!member.running || member.exited) await member.restart();
    }
  }

  /** True when `at` lies inside a fault or its grace period. */
  duringFault(from: number, to: number): boolean {
    return this.windows.some((w) => from <= (w.healedAt || Date.now()) + FAULT_GRACE_MS && to >= w.startedAt);
  }

  private async inject(fault: PlannedFault): Promise<void> {
    switch (fault.kind) {
      case 'kill-app': {
        const member = this.stack.member(fault.target!);
        await member.kill();
        await sleep(fault.holdMs);
        await member.start();
        return;
      }
      case 'pause-app':
        return this.stack.member(fault.target!).pause(fault.holdMs);
      case 'kill-cassandra':
        await this.infra.killCassandra();
        await sleep(fault.holdMs);
        return this.infra.startCassandra();
      case 'stop-cassandra':
        await this.infra.stopCassandra();
        await sleep(fault.holdMs);
        return this.infra.startCassandra();
      case 'stop-kafka':
        await this.infra.stopKafka();
        await sleep(fault.holdMs);
        return this.infra.startKafka();
      case 'stop-redis':
        await this.infra.stopRedis();
        await sleep(fault.holdMs);
        return this.infra.startRedis();
      case 'compactor-fail-point': {
        // This compactor dies at the fail point of the first job it takes; the other takes the job over.
        const member = this.stack.member(fault.target!);
        await member.restart({ COMPACTION_FAIL_POINT: fault.failPoint! });
        await this.forceCompaction();
        const deadline = Date.now() + fault.holdMs;
        while (!member.exited && Date.now() < deadline) await sleep(500);
        await member.restart();
        return;
      }
    }
  }
}
