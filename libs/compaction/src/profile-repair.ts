import { Logger } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { compactHistory, EMPTY_COMPRESSED_HISTORY, liveRowsOf, ViewingEvent, ViewingHistoryError } from '@vh/domain';
import { standaloneProfileKeys } from '@vh/erasure';
import { readProfileEvents, withTimeout } from '@vh/messaging';
import {
  CompressedHistoryCompactionStore,
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryCompactionStore,
  LiveHistoryRepository,
  LiveHistoryWriter,
  PAST_RECORDED_TOMBSTONE_US,
  ProfileActivityIndex,
  StoredHistoryEraser,
} from '@vh/storage';
import { createCompactionQueue, enqueueLiveRowsLeftRemoval } from './compaction-job';
import { liveRowsLeftRemovalDelayMs, planLiveRowDeletes } from './live-row-deletes';
import { chunkDictionaryId, describeVersion, encodeVersion } from './compressed-version.encoding';
import { TruncatedEventLogError } from './truncated-event-log.error';

export { TruncatedEventLogError };

export interface RepairReport {
  profileId: string;
  status: 'repaired';
  topic: string;
  partition: number;
  messagesRead: number;
  /** The profile's events found in the log (deletions included). */
  events: number;
  undecodable: number;
  /** Events of the profile sealed with an erased key: gone for good (docs/adr/0009). */
  erased: number;
  fromVersion: number | null;
  toVersion: number;
  cutoff: string;
  records: number;
  removedRecordIds: number;
  liveEventsWritten: number;
  /** Rolled-up live rows left in place (planLiveRowDeletes), and the job enqueued to remove them (or why not). */
  liveRowsLeft: number;
  liveRowsLeftThroughUs: number | null;
  liveRowsLeftRemoval?: string;
  durationMs: number;
}

export class RepairRaceError extends ViewingHistoryError {
  readonly code = 'repair_race';
  constructor(profileId: string) {
    super(`${profileId}: its compressed history changed during the repair; run it again`);
  }
}

/**
 * Rebuilds one profile's stored history from its events, whatever the state of its compressed history
 * (corrupt, missing chunks): a fresh compressed version of the events before the cutoff, the live rows of
 * the events after it. Deletions are events too, so they are honoured. The old chunk set is left to the
 * garbage collection, never read.
 */
export class ProfileHistoryRebuild {
  private readonly logger = new Logger(ProfileHistoryRebuild.name);

  constructor(
    private readonly live: LiveHistoryCompactionStore & LiveHistoryWriter,
    private readonly compressed: CompressedHistoryCompactionStore,
    private readonly config: AppConfig,
    /** Erasures' live tombstones on record (StoredHistoryEraser): absent, rows are dated by our clock. */
    private readonly erasureTombstones?: { erasureTombstoneAheadOf(profileId: string): Promise<number | null> },
  ) {}

  async rebuild(profileId: string, events: readonly ViewingEvent[], now = Date.now()) {
    const { minAgeMs, chunkMaxBytes, zstdLevel, zstdDictionary, recordEncoding, deleteMarginMs } =
      this.config.compaction;
    // The metadata row only: the chunks are what is broken.
    const current = await this.compressed.readVersion(profileId);
    // Never move the cutoff back: live rows before the current one may already be deleted.
    const cutoff = Math.max(now - minAgeMs, current?.compactedBefore ?? Number.NEGATIVE_INFINITY);
    // The log's events and the stored live rows together: a truncated log may lack rows still stored, and
    // the range delete below would drop them. The fold counts a repeated event once (invariant 1).
    const stored = await this.live.readProfile(profileId, { withWriteTime: true });
    // Every copy goes to the fold, which picks the variant that counts (invariant 1): keeping the first seen
    // here could keep another one (e.g. a copy accepted after a clear over one accepted before it).
    const all = [...events, ...stored.events];
    // Auto-delete judged as compaction judges it (now minus the margin, see ProfileCompactor).
    const next = compactHistory(EMPTY_COMPRESSED_HISTORY, all, cutoff, { now: now - deleteMarginMs });

    // Live rows first (blind, idempotent; the ingest wrote them already unless they were lost too), so
    // that no reader sees the new version without them. One copy per row key, the one the fold keeps.
    const recent = liveRowsOf(all.filter((e) => e.occurredAt >= cutoff));
    // After an erasure whose tombstone an ingest host's clock ahead of ours dated (ADR 9), past it as a new owner of
    // the partition dates them (a tie with such an owner's copy shadows only an identical one): the live rows and,
    // through the same option, their activity-index rows, whose delete that tombstone dated too.
    const tombstoneUs = (await this.erasureTombstones?.erasureTombstoneAheadOf(profileId)) ?? null;
    const failed = await this.live.append(
      recent,
      tombstoneUs === null ? {} : { writtenAfterUs: new Map([[profileId, tombstoneUs + PAST_RECORDED_TOMBSTONE_US]]) },
    );
    if (failed.length > 0) throw failed[0].error;

    const dictionaryId = chunkDictionaryId(zstdDictionary);
    const encoded = await encodeVersion(next, { chunkMaxBytes, zstdLevel, dictionaryId, recordEncoding });
    const toVersion = (current?.version ?? 0) + 1;
    const written = await this.compressed.writeChunkSet(profileId, encoded.stored, toVersion);
    const switched = await this.compressed.switchVersion(
      current?.version ?? null,
      describeVersion(profileId, toVersion, written, encoded, next, dictionaryId, now),
    );
    if (!switched) {
      await this.compressed.deleteChunkSet(profileId, written.chunkSet, encoded.stored.length);
      throw new RepairRaceError(profileId);
    }
    if (current) await this.compressed.markSuperseded(profileId, current.chunkSet);
    // Rows before the cutoff are in the new version; readers skip them until they are gone. Deleted as
    // compaction deletes them (planLiveRowDeletes): rows ingested after the live read outlive it; rows within
    // the margin, if many, stay for the removal repairProfileHistory enqueues.
    const deletes = planLiveRowDeletes(stored, next.compactedBefore!, deleteMarginMs);
    await this.live.deleteBefore(profileId, next.compactedBefore!, deletes.tombstoneUs, deletes.byKey);
    // Read back through the checksums, trail chunks included: a repair that cannot be read is not one.
    await this.compressed.read(profileId, { useCache: false, withTrails: true });
    this.logger.log(`${profileId}: rebuilt version ${toVersion} from ${events.length} events`);
    return {
      fromVersion: current?.version ?? null,
      toVersion,
      cutoff: new Date(next.compactedBefore!).toISOString(),
      records: next.records.length,
      removedRecordIds: next.removedRecordIds.length,
      liveEventsWritten: recent.length,
      liveRowsLeft: deletes.left,
      liveRowsLeftThroughUs: deletes.leftThroughUs,
    };
  }
}

/**
 * `cli repair --profile ID`: reads the profile's events from its partition of the event log (from the
 * earliest offset) and rebuilds its history from them. Run it while the compactor may run: the version
 * switch is conditional, so a concurrent compaction makes the repair fail (run it again), never mix.
 */
export async function repairProfileHistory(
  config: AppConfig,
  profileId: string,
  options: { allowTruncatedLog?: boolean } = {},
): Promise<RepairReport> {
  const started = Date.now();
  // Sealed events open with the profile's key; those of an erased key stay erased (docs/adr/0009).
  const keys = standaloneProfileKeys(config, 'repair');
  const log = await readProfileEvents(config, profileId, { opener: keys.opener }).finally(() => keys.close());
  if (BigInt(log.earliestOffset) > 0n && !options.allowTruncatedLog) {
    throw new TruncatedEventLogError(log.topic, log.partition, log.earliestOffset);
  }
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-repair`);
  try {
    const activity = new ProfileActivityIndex(client, config);
    const live = new LiveHistoryRepository(client, config, activity);
    const compressed = new CompressedHistoryRepository(client, config);
    const rebuilt = await new ProfileHistoryRebuild(
      live,
      compressed,
      config,
      new StoredHistoryEraser(client, config, compressed, activity),
    ).rebuild(profileId, log.events, started);
    const removal =
      rebuilt.liveRowsLeftThroughUs === null
        ? {}
        : { liveRowsLeftRemoval: await removeLiveRowsLater(config, profileId, rebuilt.liveRowsLeftThroughUs) };
    return {
      profileId,
      status: 'repaired',
      topic: log.topic,
      partition: log.partition,
      messagesRead: log.messagesRead,
      events: log.events.length,
      undecodable: log.undecodable,
      erased: log.erased,
      ...rebuilt,
      ...removal,
      durationMs: Date.now() - started,
    };
  } finally {
    await client.shutdown();
  }
}

/** BullMQ waits for Redis without end; the repair is done by then and must return. */
const ENQUEUE_TIMEOUT_MS = 5_000;

/**
 * The removal of the rows a repair left, as a compaction enqueues it (the job id). Best effort: the repair is
 * done, and reads ask for a compaction while such rows remain (ReadPathCompactionTrigger).
 */
async function removeLiveRowsLater(config: AppConfig, profileId: string, throughUs: number): Promise<string> {
  const queue = createCompactionQueue(config);
  try {
    const delayMs = liveRowsLeftRemovalDelayMs(config.compaction.deleteMarginMs);
    const enqueued = enqueueLiveRowsLeftRemoval(queue, profileId, throughUs, delayMs);
    return `job ${await withTimeout(enqueued, ENQUEUE_TIMEOUT_MS)}`;
  } catch (error) {
    // Any compaction of the profile leaves them too, and enqueues their removal.
    return `not enqueued (${(error as Error).message}): run \`cli compact --profile ${profileId}\``;
  } finally {
    await withTimeout(queue.close(), ENQUEUE_TIMEOUT_MS).catch(() => undefined);
  }
}
