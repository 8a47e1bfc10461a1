import { Logger } from '@nestjs/common';
import { Queue, SandboxedJob } from 'bullmq';
import { AppConfig, loadConfig } from '@vh/config';
import {
  COMPACTION_JOB,
  CompactionCandidates,
  CompactionStep,
  CompactionSweepJobData,
  createCompactionQueue,
  enqueueLiveRowsLeftRemoval,
  enqueueProfileCompaction,
  liveRowsLeftRemovalDelayMs,
  ProfileCompactionJobData,
  EventLogProfileEventsSource,
  ProfileCompactor,
  TruncatedEventLogError,
  scheduleGarbageCollection,
  unrecoverableFailure,
} from '@vh/compaction';
import { CorruptHistoryError, SettledSessionNotRebuiltError } from '@vh/domain';
import {
  CompactionSweepWatermarks,
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryPartitions,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';

/**
 * The sandboxed processor: BullMQ runs it in a child process, so compression (CPU-bound) never blocks
 * the worker's lock renewal, and a crash here does not take the worker down. One context per child.
 */
interface ProcessorContext {
  config: AppConfig;
  compressed: CompressedHistoryRepository;
  compactor: ProfileCompactor;
  candidates: CompactionCandidates;
  queue: Queue;
}

let context: ProcessorContext | null = null;

// BullMQ's child (5.81) does not watch its parent: after a `kill -9` of the worker it lived on with its
// connections open, its job past the lease, once burning a core for 30 min. The job is redone elsewhere,
// and a compaction stopped at any point is safe (invariant 2), so the child goes with its parent.
if (process.connected) process.once('disconnect', () => process.exit(1));

function createContext(): ProcessorContext {
  const config = loadConfig();
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-compactor`);
  const activity = new ProfileActivityIndex(client, config);
  const live = new LiveHistoryRepository(client, config, activity);
  const compressed = new CompressedHistoryRepository(client, config);
  return {
    config,
    compressed,
    compactor: new ProfileCompactor(live, compressed, config, new EventLogProfileEventsSource(config)),
    candidates: new CompactionCandidates(
      activity,
      new LiveHistoryPartitions(client, config),
      new CompactionSweepWatermarks(client, config),
      config,
    ),
    queue: createCompactionQueue(config),
  };
}

/** A sweep's status lists this many job ids at most (it may enqueue millions). */
const MAX_LISTED_JOB_IDS = 1_000;

const PROGRESS: Record<CompactionStep, number> = {
  read: 20,
  encoded: 50,
  'after-chunks': 70,
  'after-switch': 90,
  done: 100,
};

export default async function processCompactionJob(job: SandboxedJob): Promise<unknown> {
  context ??= createContext();
  const { config, compressed, compactor, candidates, queue } = context;
  if (job.name === COMPACTION_JOB.profile) {
    const data = job.data as ProfileCompactionJobData;
    try {
      const outcome = await compactor.compact(data.profileId, {
        dryRun: data.dryRun,
        liveRowsLeftThroughUs: data.liveRowsLeftThroughUs,
        onStep: async (step) => {
          await job.updateProgress({ step, percent: PROGRESS[step] });
          if (config.compaction.failPoint === step) crashWorker(step);
        },
      });
      // Also after a first version: orphans of attempts it overtook become removable only now. And after
      // any run that kept a set for later (one a crash left unmarked after the switch): nothing else comes back.
      if (outcome.status === 'compacted' && outcome.toVersion !== null) {
        await scheduleGarbageCollection(queue, data.profileId, outcome.toVersion, config.compaction.chunkSetGraceMs);
      } else if (outcome.garbageChunkSetsWaiting > 0 && outcome.fromVersion !== null) {
        await scheduleGarbageCollection(queue, data.profileId, outcome.fromVersion, config.compaction.chunkSetGraceMs);
      }
      // A removal of rows left must run even if another run switched first: that run's own removal may have
      // been dropped as a duplicate of this job while it ran. Thrown, it is retried with the job's backoff.
      if (data.liveRowsLeftThroughUs !== undefined && outcome.status === 'lost-race')
        throw new Error(`${data.profileId}: another compaction switched first; the removal of live rows left retries`);
      // Rows left in place, already counted, go with one range tombstone once no row written since can
      // carry an earlier write time (liveRowsLeftRemovalDelayMs).
      if (outcome.liveRowsLeftThroughUs !== null) {
        const delayMs = liveRowsLeftRemovalDelayMs(config.compaction.deleteMarginMs);
        await enqueueLiveRowsLeftRemoval(queue, data.profileId, outcome.liveRowsLeftThroughUs, delayMs);
      }
      return outcome;
    } catch (error) {
      // Retrying cannot mend corrupt data: fail at once, before anything is written or deleted (the live
      // rows stay), for an operator to repair.
      if (error instanceof CorruptHistoryError) throw unrecoverableFailure(error);
      // Nor a log that lacks what a settled record counted (ADR 6): each attempt would read the partition
      // again. Reads and the sweep ask again later; the live rows stay.
      if (error instanceof SettledSessionNotRebuiltError || error instanceof TruncatedEventLogError)
        throw unrecoverableFailure(error);
      throw error;
    }
  }
  if (job.name === COMPACTION_JOB.sweep) {
    const data = job.data as CompactionSweepJobData;
    // Operators' "all" means every profile; the schedule resumes from its watermark (issue 11 §6).
    const plan = data.profileIds
      ? candidates.given(data.profileIds)
      : data.requestedBy === 'operator'
        ? candidates.all()
        : await candidates.sinceWatermark();
    const jobIds: string[] = [];
    let enqueued = 0;
    for await (const profileId of plan.profiles) {
      const id = await enqueueProfileCompaction(queue, { profileId, dryRun: data.dryRun, requestedBy: 'sweep' });
      if (jobIds.length < MAX_LISTED_JOB_IDS) jobIds.push(id);
      if (++enqueued % 100 === 0) await job.updateProgress({ scope: plan.scope, reason: plan.reason, enqueued });
    }
    if (!data.dryRun) await plan.complete();
    await job.updateProgress({ scope: plan.scope, reason: plan.reason, enqueued, percent: 100 });
    return { scope: plan.scope, reason: plan.reason, enqueued, jobIds, jobIdsComplete: jobIds.length === enqueued };
  }
  if (job.name === COMPACTION_JOB.collectGarbage) {
    const { profileId } = job.data as { profileId: string };
    const { removed, waiting } = await compressed.collectGarbage(profileId);
    // Sets still in their grace expire within two grace periods: come back once more (no dedup id: this
    // job's own id is still taken while it runs), so none is left behind.
    if (waiting > 0) await scheduleGarbageCollection(queue, profileId, null, config.compaction.chunkSetGraceMs);
    return { profileId, chunkSetsRemoved: removed, chunkSetsWaiting: waiting };
  }
  throw new Error(`unknown compaction job ${job.name}`);
}

/** Test only (COMPACTION_FAIL_POINT): the whole worker dies at once, as on a power cut. */
function crashWorker(step: string): never {
  new Logger('compaction').error(`COMPACTION_FAIL_POINT=${step}: killing the worker`);
  process.kill(process.ppid, 'SIGKILL');
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}
