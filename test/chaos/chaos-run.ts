import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CassandraErasuresInProgress, standaloneProfileKeys, unseal } from '@vh/erasure';
import { CHECKOUT_ROOT } from '../support/app-process';
import { AppStack } from '../support/app-stack';
import { CHAOS_PORTS, PrivateInfrastructure, PrivateInfrastructurePorts } from '../support/private-infrastructure';
import { createTestEnvironment, TestEnvironment } from '../support/test-environment';
import { bearer } from '../support/tokens';
import { checkAgainstModel, CheckResult } from './checker';
import { countMessages, readDeadLetters, readWholeTopic, waitForLagToDrain } from './event-log-reader';
import { FaultKind, FaultWindow, Nemesis, planFaults } from './nemesis';
import { Random } from './random';
import { ReferenceModel } from './reference-model';
import { compactionJob, OperationRecord, sleep, Workload } from './workload';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  profiles: number;
  workers: number;
  faults: readonly FaultKind[];
  /** Mean time between the starts of two faults. */
  meanFaultGapMs: number;
  /** Mean time between two forced compactions. */
  meanCompactionGapMs: number;
  compactors: number;
  /**
   * COMPACTION_DELETE_MARGIN_MS of the apps. 0 (the suites' one host, one clock) takes the range tombstone alone;
   * a few seconds make compactions right after the seeding or a burst leave rows for a removal job
   * (planLiveRowDeletes), under the faults.
   */
  deleteMarginMs?: number;
  resultsDir: string;
  stateDir: string;
  /** Ports of the private services; two runs at once need different ones (and state directories). */
  ports?: PrivateInfrastructurePorts;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  startedAt: string;
  layout: Record<string, number>;
  operations: Record<string, { total: number; acknowledged: number; status: Record<string, number> }>;
  acknowledgedEvents: number;
  /** Acknowledged (202 / produce acked) and not on the event log. */
  lostFromLog: number;
  lostFromLogEventIds: string[];
  deadLettered: number;
  deadLetterSamples: { reason: string; at: string; value: string }[];
  /** Dead letters re-driven (POST /v1/admin/dead-letters/redrive) before the check, so their events count. */
  deadLettersRedriven: number;
  /** Member controls (settings, remove a title, erasure) refused with a 4xx: the workload asks only for allowed ones. */
  controlsRefused: number;
  /** Erasures still in progress once faults healed and the wait for them ran out (ingest finishes abandoned ones). */
  erasuresLeftInProgress: number;
  /** Exports during the run that stopped without an end line and without an error line. */
  silentlyIncompleteExports: number;
  faults: Record<string, number>;
  faultWindows: FaultWindow[];
  forcedCompactions: number;
  /** Compactions of the seeded history that left rows for a removal job (planLiveRowDeletes; --delete-margin). */
  seedCompactionsLeavingRows: number;
  /** Backfills of many old sessions at once (the workload), and those whose compaction left rows for a removal. */
  backfills: {
    total: number;
    compactionsLeavingRows: number;
    compactionsFailed: number;
    compactionsUnfinished: number;
  };
  serverErrorsOutsideFaults: number;
  /** 500 answers, in a fault window or not: a fault is a 503 with Retry-After, never an internal error. */
  internalErrors: number;
  serverErrorSamples: unknown[];
  check: CheckResult | null;
  failure: string | null;
  passed: boolean;
  summary: string;
  reportFile: string;
}

/** One chaos run: private services, a stack, the workload and the nemesis, then the check. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[chaos] ${line}\n`));
  const random = new Random(options.seed);
  const infra = new PrivateInfrastructure(options.stateDir, options.ports ?? CHAOS_PORTS);
  log(`seed ${options.seed}: starting private Kafka, Cassandra and Redis under ${options.stateDir}`);
  await infra.start();
  let environment: TestEnvironment | null = null;
  let stack: AppStack | null = null;
  let workload: Workload | null = null;
  const layout = { collector: 1, ingest: 2, api: 2, compactor: options.compactors };
  const report: ChaosReport = {
    seed: options.seed,
    durationMs: options.durationMs,
    startedAt: new Date().toISOString(),
    layout,
    operations: {},
    acknowledgedEvents: 0,
    lostFromLog: 0,
    lostFromLogEventIds: [],
    deadLettered: 0,
    deadLetterSamples: [],
    deadLettersRedriven: 0,
    controlsRefused: 0,
    erasuresLeftInProgress: 0,
    silentlyIncompleteExports: 0,
    faults: {},
    faultWindows: [],
    forcedCompactions: 0,
    seedCompactionsLeavingRows: 0,
    backfills: { total: 0, compactionsLeavingRows: 0, compactionsFailed: 0, compactionsUnfinished: 0 },
    serverErrorsOutsideFaults: 0,
    internalErrors: 0,
    serverErrorSamples: [],
    check: null,
    failure: null,
    passed: false,
    summary: '',
    reportFile: '',
  };
  try {
    environment = await createTestEnvironment('chaos', {
      ...infra.env,
      // A paused compactor loses its job to the other one within seconds (invariant 2 under a stall).
      COMPACTION_LOCK_MS: '5000',
      COMPACTION_SWEEP_DAYS: '30',
      COMPACTION_DELETE_MARGIN_MS: String(options.deleteMarginMs ?? 0),
      // One erasure of a profile runs at a time: a retry after a killed API waits out its lease (409 meanwhile),
      // and ingest's sweep finishes it; short, so that the workload's retries and the run see it done.
      PROFILE_ERASURE_LEASE_MS: '15000',
      PROFILE_KEYS_SWEEP_MS: '3000',
      // Shedding answers 503 on a busy 2-core box; the checker counts 5xx outside faults as defects.
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
      HTTP_IN_FLIGHT_LIMIT: 'fixed',
    });
    const env = environment.env;
    log(`starting the stack ${JSON.stringify(layout)}`);
    stack = await AppStack.start(env, layout);
    const operator = await bearer('operator', undefined, env);
    const recommender = await bearer('recommender', undefined, env);
    workload = new Workload(
      random.fork(1),
      { stack, kafka: environment.kafka, topic: env.EVENT_TOPIC, env },
      options.profiles,
    );
    await workload.prepare();
    const profileIds = workload.profiles.map((p) => p.profileId);

    log(`seeding ${options.profiles} profiles' older history onto the log, then compacting it`);
    await workload.seedOldHistory();
    await waitForLagToDrain(environment.kafka, environment.config, 300_000);
    report.seedCompactionsLeavingRows = await compactAndWait(stack, operator, profileIds);

    const compactionRandom = random.fork(3);
    // Each caller draws from its own generator, so the nemesis's compactions do not shift the loop's.
    const forceCompaction = async (draw: Random) => {
      const api = draw.pick(stack!.of('api'));
      const chosen = draw.chance(0.2)
        ? { all: true }
        : { profileIds: draw.shuffle(profileIds).slice(0, draw.int(1, 10)) };
      report.forcedCompactions++;
      await fetch(`${api.url}/v1/admin/compactions`, {
        method: 'POST',
        headers: { ...operator, 'content-type': 'application/json' },
        body: JSON.stringify(chosen),
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
    };
    const nemesisCompactions = random.fork(4);
    const nemesis = new Nemesis(stack, infra, () => forceCompaction(nemesisCompactions), log);
    const plan = planFaults(random.fork(2), options.durationMs, options.faults, stack, options.meanFaultGapMs);
    const started = Date.now();
    const until = started + options.durationMs;
    log(
      `chaos for ${options.durationMs / 1000} s: ${plan.length} faults planned (${options.faults.join(', ') || 'none'})`,
    );
    await Promise.all([
      workload.run(until, options.workers),
      nemesis.run(plan, started, until),
      (async () => {
        while (Date.now() < until) {
          await sleep(Math.round(options.meanCompactionGapMs * (0.5 + compactionRandom.next())));
          if (Date.now() < until) await forceCompaction(compactionRandom);
        }
      })(),
    ]);
    report.faultWindows = nemesis.windows;
    for (const w of nemesis.windows) report.faults[w.kind] = (report.faults[w.kind] ?? 0) + 1;
    report.backfills = { ...workload.backfills };

    log('healing every fault, then waiting for erasures in progress to finish and the ingest lag to drain');
    await nemesis.healAll();
    // An erasure whose API died or gave up is finished by ingest once its lease ran out (short here): its mark
    // must be on the log before the log is read, or the model would keep what its first steps erased.
    // The finisher waits for ingest to pass the erasure's fence: the lag first, then the erasures, then their marks.
    await waitForLagToDrain(environment.kafka, environment.config, 600_000);
    report.erasuresLeftInProgress = await erasuresInProgressAfter(environment, 300_000);
    await waitForLagToDrain(environment.kafka, environment.config, 600_000);
    // A dead letter is a defect (counted below), but its event may be good: re-drive them all, as an
    // operator would, so the check also shows whether re-driven events count exactly once.
    report.deadLettered = await countMessages(environment.kafka, env.DEAD_LETTER_TOPIC);
    if (report.deadLettered > 0) {
      log(`re-driving ${report.deadLettered} dead letters, then waiting for the lag again`);
      report.deadLettersRedriven = await redriveDeadLetters(stack, operator, workload.operations);
      await waitForLagToDrain(environment.kafka, environment.config, 600_000);
    }
    // Compactions still queued or running must not change any answer (invariant 3); let them finish.
    await sleep(5_000);

    log('reading the event log back and building the reference model');
    const keys = standaloneProfileKeys(environment.config, 'chaos-checker');
    const onLog = await readWholeTopic(environment.kafka, env.EVENT_TOPIC, async (sealed) => {
      // A key an erasure shredded still opens in its grace: the lost check sees the events before the mark,
      // and the model's erasure rule, not the missing key, is what drops them.
      const key =
        (await keys.keys.byId(sealed.profileId, sealed.keyId)) ??
        (await keys.keys.shredding(sealed.profileId, sealed.keyId))?.key ??
        null;
      if (key === null) return null;
      return unseal(key, sealed.payload, sealed.context);
    }).finally(() => keys.close());
    const model = new ReferenceModel();
    // The log holds every accepted event with the service's acceptance stamp; an acknowledged event missing
    // from it is lost (and still expected by the model, with the time we saw it acknowledged).
    for (const event of [...onLog, ...workload.acknowledged]) model.add(event);
    const logIds = new Set(onLog.map((e) => e.eventId));
    const acknowledgedIds = new Set([
      ...workload.acknowledged.map((e) => e.eventId),
      ...workload.acknowledgedControlIds,
    ]);
    report.acknowledgedEvents = acknowledgedIds.size;
    const lost = [...acknowledgedIds].filter((id) => !logIds.has(id));
    report.lostFromLog = lost.length;
    report.lostFromLogEventIds = lost.slice(0, 50);
    report.deadLettered = await countMessages(environment.kafka, env.DEAD_LETTER_TOPIC);
    report.deadLetterSamples = await readDeadLetters(environment.kafka, env.DEAD_LETTER_TOPIC);

    report.silentlyIncompleteExports = workload.silentlyIncompleteExports;
    log(`checking ${profileIds.length} profiles against the model`);
    report.check = await checkAgainstModel(
      stack,
      model,
      profileIds,
      recommender,
      Date.now() - environment.config.compaction.minAgeMs,
      operator,
    );

    for (const op of workload.operations) {
      const entry = (report.operations[op.kind] ??= { total: 0, acknowledged: 0, status: {} });
      entry.total++;
      if (op.acknowledged) entry.acknowledged++;
      entry.status[String(op.status)] = (entry.status[String(op.status)] ?? 0) + 1;
      const control = op.kind === 'change-settings' || op.kind === 'remove-title' || op.kind === 'erase-profile';
      // 409 to an erasure: another of the profile was in progress (transient, retried), not a refusal.
      const transient = op.kind === 'erase-profile' && op.status === 409;
      if (control && typeof op.status === 'number' && op.status >= 400 && op.status < 500 && !transient)
        report.controlsRefused++;
      if (op.status === 500) {
        report.internalErrors++;
        if (report.serverErrorSamples.length < 20) report.serverErrorSamples.push(op);
      }
      if (typeof op.status === 'number' && op.status >= 500 && !nemesis.duringFault(op.startedAt, op.endedAt)) {
        report.serverErrorsOutsideFaults++;
        if (op.status !== 500 && report.serverErrorSamples.length < 20) report.serverErrorSamples.push(op);
      }
    }
  } catch (error) {
    report.failure = (error as Error).stack ?? String(error);
    if (stack) for (const m of stack.members) if (m.running) log(`--- ${m.id} logs ---\n${m.logs.slice(-3_000)}`);
  } finally {
    await workload?.close();
    await stack?.stop();
    await environment?.dispose().catch(() => undefined);
    await infra.dispose();
  }
  finish(report, options, workload?.operations ?? []);
  return report;
}

/** Re-drives every dead letter through the API; returns how many went back on the log. */
async function redriveDeadLetters(
  stack: AppStack,
  operator: Record<string, string>,
  operations: OperationRecord[],
): Promise<number> {
  const api = stack.first('api');
  const record: OperationRecord = {
    kind: 'redrive-dead-letters',
    target: api.id,
    startedAt: Date.now(),
    endedAt: 0,
    status: 'network-error',
    acknowledged: false,
  };
  let redriven = 0;
  try {
    const response = await fetch(`${api.url}/v1/admin/dead-letters/redrive`, {
      method: 'POST',
      headers: { ...operator, 'content-type': 'application/json' },
      body: JSON.stringify({ all: true }),
      signal: AbortSignal.timeout(120_000),
    });
    record.status = response.status;
    const body = (await response.json().catch(() => null)) as any;
    record.detail = body;
    record.acknowledged = response.status === 200;
    redriven = Array.isArray(body?.redriven) ? body.redriven.length : 0;
  } catch (error) {
    record.error = (error as Error).message.slice(0, 300);
  }
  record.endedAt = Date.now();
  operations.push(record);
  return redriven;
}

/**
 * Compacts every profile and waits until each job finished: the older days are now compacted. Returns how many
 * of them left rows for a removal job (with --delete-margin).
 */
async function compactAndWait(
  stack: AppStack,
  operator: Record<string, string>,
  profileIds: string[],
): Promise<number> {
  const api = stack.first('api');
  const jobs: string[] = [];
  for (const profileId of profileIds) {
    const response = await fetch(`${api.url}/v1/admin/compactions`, {
      method: 'POST',
      headers: { ...operator, 'content-type': 'application/json' },
      body: JSON.stringify({ profileId }),
    });
    if (response.status !== 202) throw new Error(`compaction request answered ${response.status}`);
    jobs.push(((await response.json()) as { jobId: string }).jobId);
  }
  const deadline = Date.now() + 300_000;
  let leavingRows = 0;
  for (const job of jobs) {
    for (;;) {
      const view = await compactionJob(api.url, job, operator);
      if (view.state === 'completed' && (view.result?.liveRowsLeft ?? 0) > 0) leavingRows++;
      if (view.state === 'completed') break;
      if (view.state === 'failed' || Date.now() > deadline) throw new Error(`compaction ${job} ${view.state}`);
      await sleep(500);
    }
  }
  return leavingRows;
}

function finish(report: ChaosReport, options: ChaosOptions, operations: readonly OperationRecord[]): void {
  const c = report.check;
  const problems =
    report.lostFromLog +
    report.deadLettered +
    report.silentlyIncompleteExports +
    report.controlsRefused +
    report.erasuresLeftInProgress +
    report.serverErrorsOutsideFaults +
    report.internalErrors +
    (c
      ? c.recordsMissing +
        c.recordsExtra +
        c.recordsDiffering +
        c.continueWatchingDifferences +
        c.batchGetDifferences +
        c.exportDifferences +
        c.apiDisagreements +
        c.settingsDifferences +
        c.readErrors +
        (c.exportIncomplete ? 1 : 0)
      : 1);
  report.passed = report.failure === null && problems === 0;
  const faults = Object.entries(report.faults)
    .map(([k, n]) => `${k}:${n}`)
    .join(',');
  report.summary =
    `chaos seed=${report.seed} ${report.passed ? 'PASS' : 'FAIL'} ` +
    `acknowledged=${report.acknowledgedEvents} lost=${report.lostFromLog} deadLettered=${report.deadLettered} ` +
    `missing=${c?.recordsMissing ?? '?'} extra=${c?.recordsExtra ?? '?'} differing=${c?.recordsDiffering ?? '?'} ` +
    `watchedMore=${c?.watchedMoreThanModel ?? '?'} watchedLess=${c?.watchedLessThanModel ?? '?'} ` +
    `(inCompactedDays=${c?.historyDifferencesInCompactedDays ?? '?'} recent=${c?.historyDifferencesRecent ?? '?'}) ` +
    `continueWatching=${c?.continueWatchingDifferences ?? '?'} batchGet=${c?.batchGetDifferences ?? '?'} ` +
    `settings=${c?.settingsDifferences ?? '?'} erased=${c?.erasedRecords ?? '?'} erasedReadable=${c?.erasedRecordsReadable ?? '?'} ` +
    `controlsRefused=${report.controlsRefused} erasuresLeft=${report.erasuresLeftInProgress} redriven=${report.deadLettersRedriven} ` +
    `export=${c?.exportDifferences ?? '?'}${c?.exportIncomplete ? '(incomplete)' : ''} ` +
    `silentlyIncompleteExports=${report.silentlyIncompleteExports} ` +
    `apiDisagreements=${c?.apiDisagreements ?? '?'} 5xxOutsideFaults=${report.serverErrorsOutsideFaults} ` +
    `500s=${report.internalErrors} ` +
    `faults=${faults || 'none'} compactions=${report.forcedCompactions} operations=${operations.length} ` +
    `backfills=${report.backfills.total} (leaving rows ${report.backfills.compactionsLeavingRows}, ` +
    `compaction failed ${report.backfills.compactionsFailed}, unfinished ${report.backfills.compactionsUnfinished}) ` +
    `seed-compactions-leaving-rows=${report.seedCompactionsLeavingRows}` +
    (report.failure ? ` error=${report.failure.split('\n')[0]}` : '');
  mkdirSync(options.resultsDir, { recursive: true });
  const base = join(options.resultsDir, `chaos-seed-${report.seed}-${report.startedAt.replace(/[:.]/g, '-')}`);
  report.reportFile = `${base}.json`;
  // Every operation, one per line: what was sent, when, to which process, and whether it was acknowledged.
  writeFileSync(`${base}.operations.ndjson`, operations.map((op) => JSON.stringify(op)).join('\n'));
  writeFileSync(report.reportFile, `${JSON.stringify(report, null, 2)}\n`);
}

export const DEFAULT_RESULTS_DIR = join(CHECKOUT_ROOT, 'test/chaos/results');
export const DEFAULT_STATE_DIR = join(CHECKOUT_ROOT, '.infra/chaos');

/** Waits up to `timeoutMs` for no erasure to be in progress; how many still were. */
async function erasuresInProgressAfter(environment: TestEnvironment, timeoutMs: number): Promise<number> {
  const notes = new CassandraErasuresInProgress(environment.cassandra, environment.config);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let left = 0;
    let read = true;
    try {
      for await (const _ of notes.all()) left++;
    } catch {
      read = false; // Cassandra still coming back from a healed fault: read again
    }
    if (read && left === 0) return 0;
    if (Date.now() > deadline) return read ? left : 1; // unreadable to the end counts as one left
    await sleep(2_000);
  }
}
