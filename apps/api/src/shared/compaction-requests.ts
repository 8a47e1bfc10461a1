import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { BullBoardInstance, InjectBullBoard } from '@bull-board/nestjs';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Queue } from 'bullmq';
import { AppConfig } from '@vh/config';
import {
  CompactionJobView,
  createCompactionQueue,
  describeCompactionJob,
  enqueueProfileCompaction,
  enqueueSweep,
  ReadPathCompactionTrigger,
  recentCompactionJobs,
} from '@vh/compaction';
import { DependencyUnavailableError, ViewingEvent } from '@vh/domain';

/** Ingest normally lags the log by well under this; a compaction that runs too early is simply asked again. */
const CONTROL_COMPACTION_DELAY_MS = 30_000;

/** The API's side of the compaction queue: operators' requests, and the read path's size trigger. */
@Injectable()
export class CompactionRequests implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(CompactionRequests.name);
  private queue: Queue | null = null;
  private readonly readTrigger: ReadPathCompactionTrigger;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectBullBoard() private readonly board: BullBoardInstance,
  ) {
    this.readTrigger = new ReadPathCompactionTrigger(
      config.compaction,
      (profileId, delayMs) => this.compactProfile(profileId, false, 'read-path', delayMs),
      (profileId, error) => this.logger.warn(`could not request compaction of ${profileId}: ${error.message}`),
    );
  }

  /** Operators see the queue in Bull Board; creating the queue does not wait for Redis. */
  onModuleInit(): void {
    this.board.addQueue(new BullMQAdapter(this.connected()));
  }

  async compactProfile(
    profileId: string,
    dryRun: boolean,
    requestedBy: 'operator' | 'read-path' | 'member-controls',
    delayMs = 0,
  ): Promise<string> {
    return this.withRedis(() =>
      enqueueProfileCompaction(this.connected(), { profileId, dryRun, requestedBy }, delayMs),
    );
  }

  /**
   * A member's control (settings, remove a title) was put on the log: ask for the profile's compaction once
   * it is likely ingested, so what it hides goes physically. Best effort: the read path asks again when it
   * still finds hidden records stored.
   */
  requestAfterControl(profileId: string): void {
    this.compactProfile(profileId, false, 'member-controls', CONTROL_COMPACTION_DELAY_MS).catch((error: Error) =>
      this.logger.warn(`could not request compaction of ${profileId}: ${error.message}`),
    );
  }

  /** A read found a compaction due (records the controls hide, a settled record touched): best effort, once per window. */
  requestDueCompaction(profileId: string): boolean {
    return this.readTrigger.onCompactionDue(profileId);
  }

  async sweep(profileIds: string[] | undefined, dryRun: boolean): Promise<string> {
    return this.withRedis(() => enqueueSweep(this.connected(), { profileIds, dryRun, requestedBy: 'operator' }));
  }

  async describe(id: string): Promise<CompactionJobView | null> {
    return this.withRedis(() => describeCompactionJob(this.connected(), id));
  }

  /** The newest jobs (for the console) and the queue's depth by state. */
  async recent(limit: number) {
    return this.withRedis(() => recentCompactionJobs(this.connected(), limit));
  }

  /**
   * Netflix-style: a read that finds a large live partition asks for its roll-up, or many live events older
   * than the version it read (`compactedBefore`). Best effort.
   */
  requestIfLarge(profileId: string, liveEvents: readonly ViewingEvent[], compactedBefore: number | null): boolean {
    return this.readTrigger.onRead(profileId, liveEvents, compactedBefore);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
  }

  private connected(): Queue {
    this.queue ??= createCompactionQueue(this.config);
    return this.queue;
  }

  private async withRedis<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new DependencyUnavailableError('redis', (error as Error).message, 5, { cause: error });
    }
  }
}
