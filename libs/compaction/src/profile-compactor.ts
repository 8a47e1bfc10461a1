import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { compactHistory, ViewingRecord } from '@vh/domain';
import {
  CompressedHistoryRepository,
  CompressedHistoryVersion,
  encodeChunks,
  LiveHistoryRepository,
  LATEST_ZSTD_DICTIONARY,
  loadZstd,
  NO_DICTIONARY,
  UnknownZstdDictionaryError,
  ZSTD_DICTIONARIES,
  RECORD_ENCODING,
  ZSTD_CODEC,
} from '@vh/storage';

export type CompactionStatus = 'compacted' | 'up-to-date' | 'lost-race' | 'dry-run';

export interface CompactionOutcome {
  profileId: string;
  status: CompactionStatus;
  fromVersion: number | null;
  toVersion: number | null;
  cutoff: string;
  liveEventsRolledUp: number;
  /** Live rows already in the compressed version (left by a crash before the range delete), removed now. */
  leftoverLiveRowsRemoved: number;
  records: number;
  removedRecordIds: number;
  chunks: number;
  rawBytes: number;
  storedBytes: number;
  garbageChunkSetsRemoved: number;
  durationMs: number;
}

export type CompactionStep = 'read' | 'encoded' | 'after-chunks' | 'after-switch' | 'done';

/**
 * Rolls one profile's live events older than the compaction age into a new compressed version.
 *
 * Every step leaves reads correct, whenever a crash stops it:
 * 1. write a new chunk set (not yet visible; an orphan if we stop here, removed later);
 * 2. switch the metadata to it with a conditional update on the version we read (two workers cannot
 *    both win; the loser removes its chunk set);
 * 3. range-delete the rolled-up live rows (until then readers skip them: they are before
 *    `compactedBefore`);
 * 4. old chunk sets are removed after a grace period, for readers holding the old metadata.
 */
@Injectable()
export class ProfileCompactor {
  private readonly logger = new Logger(ProfileCompactor.name);
  /** The dictionary new chunks are compressed with; checked here so a bad setting fails at start-up. */
  private readonly dictionaryId: number;

  constructor(
    private readonly live: LiveHistoryRepository,
    private readonly compressed: CompressedHistoryRepository,
    private readonly config: AppConfig,
  ) {
    const wanted = config.compaction.zstdDictionary;
    this.dictionaryId = wanted === 'latest' ? LATEST_ZSTD_DICTIONARY : wanted;
    if (this.dictionaryId !== NO_DICTIONARY && ZSTD_DICTIONARIES[this.dictionaryId] === undefined) {
      throw new UnknownZstdDictionaryError(this.dictionaryId);
    }
  }

  async compact(
    profileId: string,
    options: { dryRun?: boolean; now?: number; onStep?: (step: CompactionStep) => Promise<void> | void } = {},
  ): Promise<CompactionOutcome> {
    const started = Date.now();
    const now = options.now ?? started;
    const step = async (name: CompactionStep) => options.onStep?.(name);
    const { chunkMaxBytes, zstdLevel, minAgeMs } = this.config.compaction;

    // The compactor reads the truth, not the cache.
    const { version: current, history } = await this.compressed.read(profileId, { useCache: false });
    const garbageChunkSetsRemoved = options.dryRun ? 0 : await this.compressed.collectGarbage(profileId, now);
    const liveEvents = await this.live.readProfile(profileId);
    await step('read');

    const next = compactHistory(history, liveEvents, now - minAgeMs);
    const alreadyCompacted = history.compactedBefore ?? Number.NEGATIVE_INFINITY;
    const leftovers = liveEvents.filter((e) => e.occurredAt < alreadyCompacted).length;
    const rolledUp = liveEvents.filter(
      (e) => e.occurredAt >= alreadyCompacted && e.occurredAt < next.compactedBefore!,
    ).length;
    const outcome = (status: CompactionStatus, extra: Partial<CompactionOutcome> = {}): CompactionOutcome => ({
      profileId,
      status,
      fromVersion: current?.version ?? null,
      toVersion: current?.version ?? null,
      cutoff: new Date(next.compactedBefore!).toISOString(),
      liveEventsRolledUp: rolledUp,
      leftoverLiveRowsRemoved: 0,
      records: next.records.length,
      removedRecordIds: next.removedRecordIds.length,
      chunks: current?.chunkCount ?? 0,
      rawBytes: current?.rawBytes ?? 0,
      storedBytes: current?.storedBytes ?? 0,
      garbageChunkSetsRemoved,
      durationMs: Date.now() - started,
      ...extra,
    });
    if (rolledUp === 0) {
      // Nothing new to roll up; rows a crash left behind are already counted, so just remove them.
      if (leftovers > 0 && !options.dryRun) await this.live.deleteBefore(profileId, alreadyCompacted);
      return outcome('up-to-date', { leftoverLiveRowsRemoved: options.dryRun ? 0 : leftovers });
    }

    const zstd = await loadZstd();
    const raw = encodeChunks(next, chunkMaxBytes);
    const stored = raw.map((chunk) => zstd.compress(chunk, zstdLevel, this.dictionaryId));
    const sizes = { chunks: stored.length, rawBytes: sum(raw), storedBytes: sum(stored) };
    await step('encoded');
    if (options.dryRun) return outcome('dry-run', sizes);

    const written = await this.compressed.writeChunkSet(profileId, stored, (current?.version ?? 0) + 1);
    await step('after-chunks');
    const version: CompressedHistoryVersion = {
      profileId,
      version: (current?.version ?? 0) + 1,
      chunkSet: written.chunkSet,
      chunkCount: stored.length,
      chunkChecksums: written.checksums,
      recordCount: next.records.length,
      removedCount: next.removedRecordIds.length,
      firstStartedAt: earliestStart(next.records),
      lastEventAt: latestEvent(next.records),
      compactedBefore: next.compactedBefore,
      clearedThrough: next.clearedThrough,
      codec: ZSTD_CODEC,
      recordEncoding: RECORD_ENCODING,
      dictionaryId: this.dictionaryId,
      rawBytes: sizes.rawBytes,
      storedBytes: sizes.storedBytes,
      compactedAt: now,
    };
    if (!(await this.compressed.switchVersion(current?.version ?? null, version))) {
      await this.compressed.deleteChunkSet(profileId, written.chunkSet, stored.length);
      this.logger.warn(`${profileId}: another compaction switched version ${current?.version ?? 'none'} first`);
      return outcome('lost-race');
    }
    await step('after-switch');
    if (current) await this.compressed.markSuperseded(profileId, current.chunkSet);
    await this.live.deleteBefore(profileId, next.compactedBefore!);
    await step('done');
    return outcome('compacted', { ...sizes, toVersion: version.version });
  }
}

// Loops, not Math.min(...records): a spread of more than about 125,000 arguments overflows the stack.
function earliestStart(records: readonly ViewingRecord[]): number | null {
  let earliest: number | null = null;
  for (const r of records) if (earliest === null || r.startedAt < earliest) earliest = r.startedAt;
  return earliest;
}

function latestEvent(records: readonly ViewingRecord[]): number | null {
  let latest: number | null = null;
  for (const r of records) if (latest === null || r.lastEventAt > latest) latest = r.lastEventAt;
  return latest;
}

function sum(buffers: Buffer[]): number {
  return buffers.reduce((n, b) => n + b.length, 0);
}
