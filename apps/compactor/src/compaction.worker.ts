import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { join } from 'node:path';
import { AppConfig } from '@vh/config';
import {
  COMPACTION_JOB,
  CompactionOutcome,
  createCompactionQueue,
  failureCodeOf,
  redisConnection,
  SCHEDULED_SWEEP_ID,
} from '@vh/compaction';
import { metrics } from '@vh/metrics';

/** Runs compaction jobs in sandboxed child processes, and owns the schedule of the sweep. */
@Injectable()
export class CompactionWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CompactionWorker.name);
  private worker: Worker | null = null;
  private queue: Queue | null = null;

  constructor(private readonly config: AppConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    const { compaction } = this.config;
    this.queue = createCompactionQueue(this.config);
    // The one place the schedule is set: upserting keeps exactly one scheduler whatever the restarts.
    await this.queue.upsertJobScheduler(
      SCHEDULED_SWEEP_ID,
      { pattern: compaction.schedule },
      { name: COMPACTION_JOB.sweep, data: { requestedBy: 'schedule' } },
    );
    this.worker = new Worker(compaction.queue, join(__dirname, 'compaction.processor.js'), {
      connection: redisConnection(this.config, true),
      concurrency: compaction.concurrency,
      lockDuration: compaction.lockMs,
      stalledInterval: compaction.lockMs,
      maxStalledCount: compaction.attempts,
    });
    // The processor runs in child processes; its outcome comes back here, where /metrics is served.
    this.worker.on('completed', (job) => {
      if (job.name !== COMPACTION_JOB.profile) return;
      const outcome = job.returnvalue as CompactionOutcome;
      metrics.compactionJobs.inc({ outcome: outcome.status });
      metrics.compactionDuration.observe(outcome.durationMs / 1000);
      if (outcome.status === 'compacted') {
        // Counted once: only the job whose switch won folds them in; a later run finds them in the trails.
        metrics.lateEvents.inc(outcome.lateEvents);
        metrics.compactionBytes.inc({ stage: 'raw' }, outcome.rawBytes);
        metrics.compactionBytes.inc({ stage: 'stored' }, outcome.storedBytes);
      }
    });
    this.worker.on('failed', (job, error) => {
      if (job?.name === COMPACTION_JOB.profile) {
        metrics.compactionJobs.inc({ outcome: failureCodeOf(error.message) ?? 'failed' });
      }
      this.logger.warn(`${job?.name} ${job?.id} failed (attempt ${job?.attemptsMade}): ${error.message}`);
    });
    this.worker.on('error', (error) => this.logger.error(`worker error: ${error.message}`));
    this.logger.log(
      `processing ${compaction.queue} with concurrency ${compaction.concurrency}; sweep at "${compaction.schedule}"`,
    );
  }

  /** Graceful: waits for the jobs in progress to finish (their children exit), then disconnects. */
  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
  }
}
