import { Job, JobsOptions, Queue, UnrecoverableError } from 'bullmq';
import { RedisOptions } from 'ioredis';
import { AppConfig } from '@vh/config';
import { ErrorCode, ViewingHistoryError } from '@vh/domain';

/** Job names on the compaction queue. */
export const COMPACTION_JOB = {
  /** Roll one profile's old live history into its compressed history. */
  profile: 'compact-profile',
  /** Find candidate profiles (or take a given list) and enqueue a compact-profile job for each. */
  sweep: 'compaction-sweep',
  /** Remove a profile's superseded chunk sets once readers can no longer hold their metadata. */
  collectGarbage: 'collect-chunk-sets',
} as const;

export const SCHEDULED_SWEEP_ID = 'scheduled-compaction-sweep';

export interface ProfileCompactionJobData {
  profileId: string;
  dryRun?: boolean;
  requestedBy: 'operator' | 'sweep' | 'read-path' | 'member-controls' | 'live-rows-left';
  /** A follow-up of a run that left rolled-up live rows: their newest write time (CompactionOutcome). */
  liveRowsLeftThroughUs?: number;
}

export interface CompactionSweepJobData {
  /**
   * Given profiles; without it, an operator's sweep takes every profile with live history older than
   * the compaction age, and the scheduled one what it has not swept since its watermark.
   */
  profileIds?: string[];
  dryRun?: boolean;
  requestedBy: 'operator' | 'schedule';
}

/**
 * Connection options, not a connection: BullMQ then owns the connections it opens and closes them in
 * `close()`; a shared instance would be left open (and keep the process alive).
 */
export function redisConnection(config: AppConfig, forWorker = false): RedisOptions {
  const url = new URL(config.redis.url);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: Number(url.pathname.slice(1) || 0),
    tls: url.protocol === 'rediss:' ? {} : undefined,
    // Workers block on Redis; BullMQ requires unlimited retries for them.
    maxRetriesPerRequest: forWorker ? null : 3,
    enableOfflineQueue: forWorker,
  };
}

export function createCompactionQueue(config: AppConfig, connection: RedisOptions = redisConnection(config)): Queue {
  return new Queue(config.compaction.queue, {
    connection,
    defaultJobOptions: {
      attempts: config.compaction.attempts,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}

/** One job per profile at a time: a second request while one waits or runs is the same job. */
export function profileJobOptions(profileId: string, dryRun = false): JobsOptions {
  return { deduplication: { id: `${dryRun ? 'dry-run' : 'profile'}:${profileId}` } };
}

/** `delayMs`: run no sooner (e.g. once the event that asked for it has been ingested). */
export async function enqueueProfileCompaction(
  queue: Queue,
  data: ProfileCompactionJobData,
  delayMs = 0,
): Promise<string> {
  // A delayed request has its own deduplication id: merged into an operator's, it would delay it too; one per
  // requester, so that the read path's (delayed by twice the delete margin) never holds back a member's control.
  const options =
    delayMs > 0
      ? { deduplication: { id: `delayed:${data.requestedBy}:${data.profileId}` }, delay: delayMs }
      : profileJobOptions(data.profileId, data.dryRun);
  const job = await queue.add(COMPACTION_JOB.profile, data, options);
  return job.id!;
}

/**
 * The follow-up of a run that left rolled-up live rows (planLiveRowDeletes): no sooner than `delayMs`, which
 * its tombstone's date relies on. One per run that left rows: merged into a request still waiting, it would
 * run with another's date, or be lost while this one runs.
 */
export async function enqueueLiveRowsLeftRemoval(
  queue: Queue,
  profileId: string,
  liveRowsLeftThroughUs: number,
  delayMs: number,
): Promise<string> {
  const data: ProfileCompactionJobData = { profileId, requestedBy: 'live-rows-left', liveRowsLeftThroughUs };
  const job = await queue.add(COMPACTION_JOB.profile, data, {
    delay: delayMs,
    deduplication: { id: `live-rows-left:${profileId}:${liveRowsLeftThroughUs}` },
  });
  return job.id!;
}

/**
 * Runs after the grace period, whether or not the profile is ever compacted again. One per version: a
 * request merged into an earlier one still waiting would run before this version's grace is over.
 */
export async function scheduleGarbageCollection(
  queue: Queue,
  profileId: string,
  version: number | null,
  delayMs: number,
): Promise<void> {
  const deduplication = version === null ? undefined : { id: `gc:${profileId}:${version}` };
  await queue.add(COMPACTION_JOB.collectGarbage, { profileId }, { delay: delayMs + 1_000, deduplication });
}

export async function enqueueSweep(queue: Queue, data: CompactionSweepJobData): Promise<string> {
  const job = await queue.add(COMPACTION_JOB.sweep, data);
  return job.id!;
}

/**
 * A failure that retrying cannot mend: the job fails at once (no further attempts), its reason starting
 * with the error's code, which is how the job status and the worker's metric (other processes) know it.
 */
export function unrecoverableFailure(error: ViewingHistoryError): UnrecoverableError {
  return new UnrecoverableError(`${error.code}: ${error.message}`);
}

/** Failures that retrying cannot mend (`unrecoverableFailure`), as job statuses and metrics name them. */
const UNRECOVERABLE_CODES = ['corrupt_history', 'settled_session_not_rebuilt', 'truncated_event_log'] as const;
export type UnrecoverableCode = (typeof UNRECOVERABLE_CODES)[number] & ErrorCode;

/** The code of a failure that `unrecoverableFailure` made, or null for any other failure. */
export function failureCodeOf(failedReason: string | undefined): UnrecoverableCode | null {
  return UNRECOVERABLE_CODES.find((code) => failedReason?.startsWith(`${code}: `)) ?? null;
}

/**
 * A job as operators see it, or null if there is none. The state is read before the job: BullMQ
 * stores the result and then moves the job to completed, so a job seen completed has its result.
 */
export async function describeCompactionJob(queue: Queue, jobId: string) {
  const state = await queue.getJobState(jobId);
  const job = state === 'unknown' ? undefined : await Job.fromId(queue, jobId);
  if (!job) return null;
  return compactionJobView(job, state);
}

/** The most recent jobs (newest first, at most `limit`) and how many the queue holds in each state. */
export async function recentCompactionJobs(queue: Queue, limit: number) {
  const states = ['active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed'] as const;
  const [counts, jobs] = await Promise.all([
    queue.getJobCounts(...states, 'paused'),
    queue.getJobs([...states], 0, limit - 1, false),
  ]);
  const newest = jobs
    .filter((job): job is Job => job !== undefined && job !== null)
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, limit);
  const views = await Promise.all(newest.map(async (job) => compactionJobView(job, await job.getState())));
  return { counts, jobs: views };
}

function compactionJobView(job: Job, state: string) {
  return {
    jobId: job.id,
    kind: job.name === COMPACTION_JOB.sweep ? 'sweep' : 'profile',
    state,
    progress: job.progress,
    data: job.data,
    result: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
    /**
     * `corrupt_history`: the profile's stored history is corrupt; `cli repair --profile ID` rebuilds it.
     * `settled_session_not_rebuilt`, `truncated_event_log`: live events touch a settled record whose events
     * the log does not hold whole (docs/adr/0006); its live rows stay.
     */
    error: failureCodeOf(job.failedReason),
    attemptsMade: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    processedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

export type CompactionJobView = NonNullable<Awaited<ReturnType<typeof describeCompactionJob>>>;
