import { Inject, Injectable, Logger } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { createHash, randomUUID } from 'node:crypto';
import { AppConfig } from '@vh/config';
import {
  ChunkedCompressedHistory,
  CompressedHistory,
  CompressedHistoryIndex,
  CorruptHistoryError,
  RecordChunk,
  EMPTY_COMPRESSED_HISTORY,
  dailySweepReasons,
  EMPTY_MEMBER_CONTROLS,
  erasedSinceSwitch,
  MemberControls,
  NamedSettings,
  settingsNamedForDailySweep,
  TrailChunkMembers,
  ViewingHistoryError,
} from '@vh/domain';
import { metrics } from '@vh/metrics';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError, isUndefinedColumnError } from '../cassandra-errors';
import { approximateBytes, CompressedHistoryCache } from './compressed-history.cache';
import { decodeChunk, READABLE_RECORD_ENCODINGS } from './history-chunk.codec';
import { decodeTrailChunk, decodeTrailChunkRecordIds } from './session-trail.codec';
import { VersionChunksDecoder } from './compressed-version.decode';
import { decodeMemberControls } from './member-controls.codec';
import { decodeChunkIndex, encodeChunkIndex } from './chunk-index.codec';
import { loadZstd, ZSTD_CODEC } from './zstd';
import { CompressedHistoryVersion } from './compressed-history.version';
import {
  CompressedHistoryCompactionStore,
  DailySweepNamed,
  GarbageCollected,
} from '../ports/compressed-history.compaction-store';
import {
  noteErasedForDailySweep,
  noteNamedForDailySweep,
  notePausesFinished,
  shardOf,
} from '../live/profile-activity.index';

/**
 * A chunk whose bytes do not match their checksum, do not decode, or are missing from the current chunk
 * set: reported, never served as empty.
 */
export class CorruptCompressedHistoryError extends CorruptHistoryError {
  constructor(
    profileId: string,
    readonly chunkSet: string,
    readonly chunkIndex: number,
    reason: string,
  ) {
    super(profileId, `compressed history of ${profileId} is corrupt: chunk ${chunkIndex} of ${chunkSet}: ${reason}`);
  }
}

/** A chunk set removed under a reader that held old metadata (it retries with fresh metadata). */
class ChunkSetGoneError extends ViewingHistoryError {
  readonly code = 'chunk_set_gone';
  constructor(readonly chunkIndex: number) {
    super(`chunk ${chunkIndex} is gone`);
  }
}

export function checksumOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

const toDate = (ms: number | null) => (ms === null ? null : new Date(ms));
const toMs = (value: unknown) => (value instanceof Date ? value.getTime() : null);

/** A profile with no compressed version, as a paged read sees it. */
const NO_CHUNKS: ChunkedCompressedHistory = Object.freeze({
  clearedThrough: null,
  compactedBefore: null,
  index: { recordChunks: [], trailChunks: [] },
  recordChunk: () => Promise.reject(new Error('no compressed version')),
  trailChunk: () => Promise.reject(new Error('no compressed version')),
  trailChunkIds: () => Promise.reject(new Error('no compressed version')),
});

/**
 * The Paxos of a profile's version switch spans every datacenter (SERIAL, not LOCAL_SERIAL): two regions
 * that read the same version would otherwise each switch it, and replication would keep one switch's
 * row while the other's compactor deletes the live rows it rolled into its lost chunk set
 * (docs/adr/0012). With one datacenter the two are the same quorum.
 */
const VERSION_SERIAL_CONSISTENCY = types.consistencies.serial;

/** Per profile: an immutable, versioned set of zstd chunks behind one metadata row. */
@Injectable()
export class CompressedHistoryRepository implements CompressedHistoryCompactionStore {
  private readonly logger = new Logger(CompressedHistoryRepository.name);
  private readonly ks: string;
  readonly cache: CompressedHistoryCache<CompressedHistory>;
  /** Decoded record chunks of paged reads, by (chunk set, index); half the cache budget, the other half above. */
  readonly chunkCache: CompressedHistoryCache<RecordChunk>;
  /** RecordIds of trail chunks, for paged reads with live sessions; within the chunk cache's half. */
  readonly trailIdCache: CompressedHistoryCache<TrailChunkMembers>;
  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.ks = config.cassandra.keyspace;
    this.cache = new CompressedHistoryCache(Math.floor(config.compaction.cacheMaxBytes / 2));
    this.chunkCache = new CompressedHistoryCache(Math.floor(config.compaction.cacheMaxBytes / 4));
    this.trailIdCache = new CompressedHistoryCache(Math.floor(config.compaction.cacheMaxBytes / 4));
  }

  /** `serial`: the latest version any switch committed (a Paxos read), not just what a replica has. */
  async readVersion(profileId: string, options: { serial?: boolean } = {}): Promise<CompressedHistoryVersion | null> {
    const row = await this.run(() =>
      this.client.execute(
        `SELECT * FROM ${this.ks}.compressed_history WHERE profile_id = ?`,
        [profileId],
        options.serial ? { ...this.readOptions(), consistency: VERSION_SERIAL_CONSISTENCY } : this.readOptions(),
      ),
    );
    const r = row.first();
    if (!r) return null;
    return {
      profileId,
      version: r.get('version'),
      chunkSet: String(r.get('chunk_set')),
      chunkCount: r.get('chunk_count'),
      trailChunkCount: r.get('trail_chunk_count') ?? 0,
      chunkChecksums: r.get('chunk_checksums') ?? [],
      recordCount: r.get('record_count'),
      removedCount: r.get('removed_count'),
      firstStartedAt: toMs(r.get('first_started_at')),
      lastEventAt: toMs(r.get('last_event_at')),
      compactedBefore: toMs(r.get('compacted_before')),
      clearedThrough: toMs(r.get('cleared_through')),
      memberControls: (r.get('member_controls') as string | null | undefined) ?? null,
      codec: r.get('codec'),
      recordEncoding: r.get('record_encoding'),
      dictionaryId: r.get('dictionary_id') ?? 0,
      rawBytes: Number(r.get('raw_bytes') ?? 0),
      storedBytes: Number(r.get('stored_bytes') ?? 0),
      compactedAt: toMs(r.get('compacted_at')) ?? 0,
      chunkIndex: this.indexOf(profileId, r.get('chunk_index') as Buffer | null),
    };
  }

  /**
   * The current compressed history of a profile, from the cache when this version was decoded before.
   * Read it after the live rows: then a compaction finishing in between cannot hide records.
   * `withTrails` also decodes the session trails (compaction, and reads whose live events need them).
   */
  async read(
    profileId: string,
    options: { useCache?: boolean; withTrails?: boolean } = {},
  ): Promise<{ version: CompressedHistoryVersion | null; history: CompressedHistory }> {
    return this.onCurrentVersion<{ version: CompressedHistoryVersion | null; history: CompressedHistory }>(
      profileId,
      async () => ({ version: null, history: EMPTY_COMPRESSED_HISTORY }),
      async (version) => {
        let cached = options.useCache === false ? undefined : this.cache.get(profileId, version.chunkSet);
        if (cached && options.withTrails && cached.trails === undefined) cached = undefined;
        if (options.useCache !== false) metrics.compressedCache.inc({ result: cached ? 'hit' : 'miss' });
        if (cached) return { version, history: cached };
        const history = await this.decode(version, options.withTrails === true);
        if (options.useCache !== false) this.cache.set(profileId, version.chunkSet, history, approximateBytes(history));
        return { version, history };
      },
    );
  }

  /**
   * Runs `use` on the current version read chunk by chunk (null when it has no index: read it whole):
   * each chunk is fetched, checked and decoded only when asked for, record chunks cached. If the chunk set
   * is removed under it (superseded past its grace period), `use` runs again on fresh metadata.
   */
  async withChunkedVersion<T>(
    profileId: string,
    use: (history: ChunkedCompressedHistory | null) => Promise<T>,
  ): Promise<T> {
    return this.onCurrentVersion(
      profileId,
      () => use(NO_CHUNKS),
      (version) => use(version.chunkIndex === null ? null : this.chunked(version, version.chunkIndex)),
    );
  }

  /**
   * Runs `use` on the profile's current version (`none` when it has none). Old chunk sets are removed only
   * after a grace period, so a chunk set gone under `use` was superseded: it runs again on fresh metadata. A
   * current version still naming a missing chunk is lost data, not a superseded set: corrupt history.
   */
  private async onCurrentVersion<T>(
    profileId: string,
    none: () => Promise<T>,
    use: (version: CompressedHistoryVersion) => Promise<T>,
  ): Promise<T> {
    let gone: { chunkSet: string; chunkIndex: number } | null = null;
    for (let attempt = 0; ; attempt++) {
      const version = await this.readVersion(profileId);
      if (version === null) return none();
      if (gone !== null && gone.chunkSet === version.chunkSet)
        throw this.corrupt(version, gone.chunkIndex, 'chunk missing');
      try {
        return await use(version);
      } catch (error) {
        if (error instanceof ChunkSetGoneError && attempt < 2) {
          gone = { chunkSet: version.chunkSet, chunkIndex: error.chunkIndex };
          continue;
        }
        if (error instanceof ChunkSetGoneError) throw this.corrupt(version, error.chunkIndex, 'chunk missing');
        throw error;
      }
    }
  }

  private chunked(version: CompressedHistoryVersion, index: CompressedHistoryIndex): ChunkedCompressedHistory {
    return {
      clearedThrough: version.clearedThrough,
      compactedBefore: version.compactedBefore,
      controls: this.controlsOf(version),
      index,
      recordChunk: async (index) => {
        const key = `${version.chunkSet}#${index}`;
        const cached = this.chunkCache.get(version.profileId, key);
        metrics.compressedCache.inc({ result: cached ? 'hit' : 'miss' });
        if (cached) return cached;
        const chunk = await this.decodeChunkAt(version, index, (bytes) =>
          decodeChunk(version.profileId, bytes, { settledDigests: false }),
        );
        this.chunkCache.set(version.profileId, key, chunk, approximateBytes(chunk));
        return chunk;
      },
      trailChunk: (index) =>
        this.decodeChunkAt(version, version.chunkCount + index, (bytes) => decodeTrailChunk(version.profileId, bytes)),
      trailChunkIds: async (index) => {
        const key = `${version.chunkSet}#${version.chunkCount + index}`;
        const cached = this.trailIdCache.get(version.profileId, key);
        if (cached) return cached;
        const members = await this.decodeChunkAt(version, version.chunkCount + index, (bytes) =>
          decodeTrailChunkRecordIds(bytes),
        );
        // ~100 bytes per id as a JS string in a Set, ~40 per fingerprint.
        const bytes = 256 + members.trailed.size * 100 + members.settledFingerprints.size * 40;
        this.trailIdCache.set(version.profileId, key, members, bytes);
        return members;
      },
    };
  }

  /** One chunk of a set: fetched, its checksum checked, decompressed and decoded; corrupt if any fails. */
  private async decodeChunkAt<T>(
    version: CompressedHistoryVersion,
    index: number,
    decodeBytes: (bytes: Buffer) => T,
    stored?: Buffer | null,
  ): Promise<T> {
    const bytes = stored === undefined ? await this.readChunk(version.profileId, version.chunkSet, index) : stored;
    if (bytes === null) throw new ChunkSetGoneError(index);
    if (checksumOf(bytes) !== version.chunkChecksums[index]) throw this.corrupt(version, index, 'checksum mismatch');
    try {
      return decodeBytes((await loadZstd()).decompress(bytes, version.dictionaryId));
    } catch (error) {
      throw this.corrupt(version, index, (error as Error).message);
    }
  }

  /** The member's controls kept whole in the metadata row: unreadable ones are a corrupt version. */
  private controlsOf(version: CompressedHistoryVersion): MemberControls {
    try {
      return decodeMemberControls(version.memberControls);
    } catch (error) {
      throw this.corrupt(version, -1, (error as Error).message);
    }
  }

  /** An index that does not decode is not trusted: the version is read whole (still correct, slower). */
  private indexOf(profileId: string, bytes: Buffer | null) {
    if (bytes === null || bytes === undefined) return null;
    try {
      return decodeChunkIndex(bytes);
    } catch (error) {
      this.logger.warn(`${profileId}: chunk index unreadable, the version is read whole: ${(error as Error).message}`);
      return null;
    }
  }

  private async decode(version: CompressedHistoryVersion, withTrails: boolean): Promise<CompressedHistory> {
    if (version.codec !== ZSTD_CODEC || !READABLE_RECORD_ENCODINGS.includes(version.recordEncoding)) {
      throw new CorruptCompressedHistoryError(
        version.profileId,
        version.chunkSet,
        -1,
        `unknown codec ${version.codec}/${version.recordEncoding}`,
      );
    }
    const wanted = version.chunkCount + (withTrails ? version.trailChunkCount : 0);
    const chunks = await Promise.all(
      Array.from({ length: wanted }, (_, index) => this.readChunk(version.profileId, version.chunkSet, index)),
    );
    const controls = this.controlsOf(version);
    const decoder = new VersionChunksDecoder(version.profileId, version.chunkCount);
    for (const [index, stored] of chunks.entries())
      await this.decodeChunkAt(version, index, (bytes) => decoder.add(index, bytes), stored);
    return {
      clearedThrough: version.clearedThrough,
      compactedBefore: version.compactedBefore,
      controls,
      ...(withTrails ? decoder.withTrails() : { ...decoder.recordsOnly(), trails: undefined }),
    };
  }

  /** Counted and logged where it is found, whichever way it is found. */
  private corrupt(
    version: CompressedHistoryVersion,
    chunkIndex: number,
    reason: string,
  ): CorruptCompressedHistoryError {
    metrics.corruptChunks.inc();
    const error = new CorruptCompressedHistoryError(version.profileId, version.chunkSet, chunkIndex, reason);
    this.logger.error(error.message);
    return error;
  }

  /** Every chunk of a version as stored (records, then trails), checksums verified: what a backup copies. */
  async storedChunks(version: CompressedHistoryVersion): Promise<Buffer[]> {
    const count = version.chunkCount + version.trailChunkCount;
    const chunks = await Promise.all(
      Array.from({ length: count }, (_, index) => this.readChunk(version.profileId, version.chunkSet, index)),
    );
    return chunks.map((chunk, index) => {
      if (chunk === null) throw new ChunkSetGoneError(index);
      if (checksumOf(chunk) !== version.chunkChecksums[index]) throw this.corrupt(version, index, 'checksum mismatch');
      return chunk;
    });
  }

  /**
   * Every chunk of a version with its stored size and whether it still matches its checksum (operators'
   * view of a profile; reads each chunk, bounded by COMPACTION_CHUNK_MAX_BYTES, one at a time).
   */
  async describeChunks(
    version: CompressedHistoryVersion,
  ): Promise<
    { index: number; kind: 'records' | 'trail'; storedBytes: number | null; checksum: string; intact: boolean }[]
  > {
    const chunks = [];
    for (let index = 0; index < version.chunkCount + version.trailChunkCount; index++) {
      const data = await this.readChunk(version.profileId, version.chunkSet, index);
      const checksum = version.chunkChecksums[index] ?? '';
      chunks.push({
        index,
        kind: index < version.chunkCount ? ('records' as const) : ('trail' as const),
        storedBytes: data?.length ?? null,
        checksum,
        intact: data !== null && checksumOf(data) === checksum,
      });
    }
    return chunks;
  }

  private async readChunk(profileId: string, chunkSet: string, index: number): Promise<Buffer | null> {
    const result = await this.run(() =>
      this.client.execute(
        `SELECT data FROM ${this.ks}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index = ?`,
        [profileId, chunkSet, index],
        this.readOptions(),
      ),
    );
    return (result.first()?.get('data') as Buffer | undefined) ?? null;
  }

  /**
   * Writes a new chunk set (not yet current) meant to become `forVersion`. Recorded first, so that an
   * orphan can be found later; the version it names tells garbage collection when it no longer can be.
   */
  async writeChunkSet(
    profileId: string,
    chunks: Buffer[],
    forVersion: number,
  ): Promise<{ chunkSet: string; checksums: string[]; storedBytes: number }> {
    const chunkSet = randomUUID();
    const options = this.writeOptions();
    await this.run(() =>
      this.client.execute(
        `INSERT INTO ${this.ks}.compressed_history_chunk_sets (profile_id, chunk_set, chunk_count, created_at, for_version) VALUES (?, ?, ?, ?, ?)`,
        [profileId, chunkSet, chunks.length, new Date(), forVersion],
        options,
      ),
    );
    await this.run(() =>
      Promise.all(
        chunks.map((data, index) =>
          this.client.execute(
            `INSERT INTO ${this.ks}.compressed_history_chunks (profile_id, chunk_set, chunk_index, data) VALUES (?, ?, ?, ?)`,
            [profileId, chunkSet, index, data],
            options,
          ),
        ),
      ),
    );
    return { chunkSet, checksums: chunks.map(checksumOf), storedBytes: chunks.reduce((n, c) => n + c.length, 0) };
  }

  /** Makes `next` current if the current version is still `expectedVersion` (null: none yet). */
  async switchVersion(
    expectedVersion: number | null,
    next: CompressedHistoryVersion,
    named?: NamedSettings,
  ): Promise<boolean> {
    // Versions only ever grow by one: garbage collection relies on it (see collectGarbage).
    if (next.version !== (expectedVersion ?? 0) + 1) {
      throw new Error(`switch of ${next.profileId} from version ${expectedVersion} to ${next.version}: must be +1`);
    }
    const values = metadataValues(next);
    const options = { ...this.writeOptions(), serialConsistency: VERSION_SERIAL_CONSISTENCY };
    const result = await this.run(() =>
      expectedVersion === null
        ? this.client.execute(this.insertMetadata(), [next.profileId, ...values], options)
        : this.client.execute(
            `UPDATE ${this.ks}.compressed_history SET ${METADATA_COLUMNS.split(',')
              .map((c) => `${c.trim()} = ?`)
              .join(', ')} WHERE profile_id = ? IF version = ?`,
            [...values, next.profileId, expectedVersion],
            options,
          ),
    );
    const switched = result.first().get('[applied]') === true;
    if (switched) await this.noteDailySweep(next, named);
    return switched;
  }

  /**
   * A restore (apps/cli backup): the version a backup holds, as it was, into a keyspace where the profile
   * has none yet; false if it has one.
   */
  async restoreVersion(version: CompressedHistoryVersion): Promise<boolean> {
    const options = { ...this.writeOptions(), serialConsistency: VERSION_SERIAL_CONSISTENCY };
    const result = await this.run(() =>
      this.client.execute(this.insertMetadata(), [version.profileId, ...metadataValues(version)], options),
    );
    const restored = result.first().get('[applied]') === true;
    if (restored) await this.noteDailySweep(version);
    return restored;
  }

  /**
   * A version whose controls give the daily sweep a reason to visit its profile (an auto-delete period, a pause)
   * notes it in the sweep's index once it became current, naming the settings behind it: settings ingested before
   * the index noted them reach it here when compacted (ingest notes the new ones itself, migration 10 those
   * compressed before). Only after the switch (review, session 8): a compaction that loses it to an erasure, whose
   * delete of the note at its mark may have come first, must not note the erased profile. One stalled between its
   * switch and its note may still write it after that delete: the version read after the note tells (the
   * erasure's switch was committed before its delete, so a quorum read sees it; no Paxos read needed), for what it
   * named is no longer held (an erasure is the only thing that drops controls), and those are marked erased (ADR 9).
   * Only by a version newer than this one (`erasedSinceSwitch`): at consistency ONE the read may hit a replica the
   * switch has not reached, and a live setting marked erased would leave the sweep for good (review of issue 15).
   * A crash between the switch and the note leaves it to ingest's note and the next compaction's; so does a failure
   * of the note or of the read after it, logged, not thrown: the switch applied, and a compaction reported failed
   * here would skip its delete of the rows it rolled up. `known`: what the row named when read before the history
   * (the compaction's); a version that adds nothing to it writes no note (each re-add is a write per switch).
   */
  private async noteDailySweep(version: CompressedHistoryVersion, known?: NamedSettings): Promise<void> {
    if (version.memberControls === null) return;
    const controls = decodeMemberControls(version.memberControls);
    const reasons = dailySweepReasons(controls);
    if (reasons.length === 0) return;
    const named = settingsNamedForDailySweep(controls);
    if (known && namesNothingNew(named, known)) return;
    const options = { ...this.writeOptions(), isIdempotent: true };
    const key = [shardOf(version.profileId), version.profileId];
    try {
      await this.run(() =>
        this.client.execute(noteNamedForDailySweep(this.ks), [reasons, named.pauses, named.periods, ...key], options),
      );
      const current = await this.readVersion(version.profileId);
      const held = current && {
        version: current.version,
        controls: current.memberControls ? decodeMemberControls(current.memberControls) : EMPTY_MEMBER_CONTROLS,
      };
      const erased = erasedSinceSwitch(named, version.version, held);
      if (erased.length === 0) return;
      this.logger.log(
        `${version.profileId}: its daily-sweep note came after an erasure: ${erased.length} setting(s) marked erased`,
      );
      await this.noteErasedForDailySweep(version.profileId, erased);
    } catch (error) {
      this.logger.warn(
        `${version.profileId}: version ${version.version} is current, its daily-sweep note failed (a later switch notes it): ${(error as Error).message}`,
      );
    }
  }

  /**
   * The settings the daily sweep's row names for the profile and has not marked erased (migration 12): read by a
   * compaction before it reads the history, so that those its read then no longer finds are known erased. Null on
   * a schema without migration 12's columns.
   */
  async namedForDailySweep(profileId: string): Promise<DailySweepNamed | null> {
    let result: types.ResultSet;
    try {
      result = await this.client.execute(
        `SELECT pauses, periods, erased, pauses_finished FROM ${this.ks}.profile_auto_delete WHERE shard = ? AND profile_id = ?`,
        [shardOf(profileId), profileId],
        { ...this.readOptions(), isIdempotent: true },
      );
    } catch (error) {
      // Deployed before migration 12: none named, so compaction goes on as it did before it (review of issue 15).
      if (!isUndefinedColumnError(error)) throw asStorageError(error);
      this.logger.warn(`${profileId}: profile_auto_delete has no named settings (migration 12 not applied): none read`);
      return null;
    }
    const row = result.first();
    const set = (column: string) => (row?.get(column) as string[] | null) ?? [];
    const erased = new Set(set('erased'));
    return {
      pauses: set('pauses').filter((id) => !erased.has(id)),
      periods: set('periods').filter((id) => !erased.has(id)),
      pausesFinished: set('pauses_finished'),
    };
  }

  /** Named settings found erased (`erasedSince`): the sweep no longer visits the profile for them (ADR 9). */
  async noteErasedForDailySweep(profileId: string, settings: readonly string[]): Promise<void> {
    if (settings.length === 0) return;
    await this.run(() =>
      this.client.execute(noteErasedForDailySweep(this.ks), [settings, shardOf(profileId), profileId], {
        ...this.writeOptions(),
        isIdempotent: true,
      }),
    );
  }

  /**
   * The pauses a compaction finished (`pausesFinishedBy`, ADR 8), noted once its version is current and the live
   * rows it rolled up are deleted. Only adds the pauses it read: a pause noted since, even before this write lands
   * (a compactor stalled past its lease), stays unfinished and keeps the profile in the daily sweep.
   */
  async notePausesFinished(profileId: string, pauses: readonly string[]): Promise<void> {
    if (pauses.length === 0) return;
    try {
      await this.client.execute(notePausesFinished(this.ks), [pauses, pauses, shardOf(profileId), profileId], {
        ...this.writeOptions(),
        isIdempotent: true,
      });
    } catch (error) {
      // Before migration 12 the sets do not exist: the profile stays in the daily sweep, as it did then.
      if (!isUndefinedColumnError(error)) throw asStorageError(error);
      this.logger.warn(
        `${profileId}: pauses not noted finished: run \`migrate\` (12) to let paused profiles leave the daily sweep`,
      );
    }
  }

  private insertMetadata(): string {
    const marks = METADATA_COLUMNS.split(',')
      .map(() => '?')
      .join(', ');
    return `INSERT INTO ${this.ks}.compressed_history (profile_id, ${METADATA_COLUMNS}) VALUES (?, ${marks}) IF NOT EXISTS`;
  }

  async markSuperseded(profileId: string, chunkSet: string, at = Date.now()): Promise<void> {
    await this.run(() =>
      this.client.execute(
        `UPDATE ${this.ks}.compressed_history_chunk_sets SET superseded_at = ? WHERE profile_id = ? AND chunk_set = ?`,
        [new Date(at), profileId, chunkSet],
        this.writeOptions(),
      ),
    );
  }

  /**
   * Removes chunk sets that are not current and never can be again: superseded ones after the grace
   * period (a reader may still hold their metadata), orphans of crashed or losing attempts once clearly
   * abandoned. A chunk set written for a version later than the current one is kept whatever its age:
   * its writer may be stalled past its lock and still win the switch to it (issue 11 §4). The switch
   * is conditional on version N - 1 and versions only grow, so once the current version (read through
   * Paxos) has reached N, the set is unreachable for good.
   * A set written for the version just before the current one and never marked superseded may have been
   * current until a worker died between the switch and the mark: readers may still hold it, so it is
   * marked now and removed a grace period later (`waiting` counts such sets, for the caller to come back).
   */
  async collectGarbage(profileId: string, now = Date.now()): Promise<GarbageCollected> {
    const { chunkSetGraceMs } = this.config.compaction;
    const current = await this.readVersion(profileId, { serial: true });
    const sets = await this.run(() =>
      this.client.execute(
        `SELECT chunk_set, chunk_count, created_at, superseded_at, for_version FROM ${this.ks}.compressed_history_chunk_sets WHERE profile_id = ?`,
        [profileId],
        this.readOptions(),
      ),
    );
    const collected: GarbageCollected = { removed: 0, waiting: 0 };
    for (const row of sets.rows) {
      const chunkSet = String(row.get('chunk_set'));
      if (chunkSet === current?.chunkSet) continue;
      const forVersion = row.get('for_version') as number | null;
      if (forVersion !== null && forVersion > (current?.version ?? 0)) continue;
      const superseded = toMs(row.get('superseded_at'));
      if (superseded === null && current !== null && forVersion === current.version - 1) {
        await this.markSuperseded(profileId, chunkSet, now);
        collected.waiting++;
        continue;
      }
      const created = toMs(row.get('created_at')) ?? 0;
      const expired = superseded !== null ? superseded < now - chunkSetGraceMs : created < now - 2 * chunkSetGraceMs;
      if (!expired) {
        collected.waiting++;
        continue;
      }
      await this.deleteChunkSet(profileId, chunkSet, row.get('chunk_count'));
      collected.removed++;
    }
    return collected;
  }

  async deleteChunkSet(profileId: string, chunkSet: string, chunkCount: number): Promise<void> {
    const options = this.writeOptions();
    await this.run(() =>
      Promise.all(
        Array.from({ length: chunkCount }, (_, index) =>
          this.client.execute(
            `DELETE FROM ${this.ks}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index = ?`,
            [profileId, chunkSet, index],
            options,
          ),
        ),
      ),
    );
    await this.run(() =>
      this.client.execute(
        `DELETE FROM ${this.ks}.compressed_history_chunk_sets WHERE profile_id = ? AND chunk_set = ?`,
        [profileId, chunkSet],
        options,
      ),
    );
  }

  private readOptions() {
    return { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) };
  }

  private writeOptions() {
    return { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) };
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw asStorageError(error);
    }
  }
}

const METADATA_COLUMNS =
  'version, chunk_set, chunk_count, trail_chunk_count, chunk_checksums, record_count, removed_count, first_started_at, last_event_at, ' +
  'compacted_before, cleared_through, member_controls, codec, record_encoding, dictionary_id, raw_bytes, stored_bytes, compacted_at, ' +
  'chunk_index';

function metadataValues(next: CompressedHistoryVersion): unknown[] {
  return [
    next.version,
    next.chunkSet,
    next.chunkCount,
    next.trailChunkCount,
    next.chunkChecksums,
    next.recordCount,
    next.removedCount,
    toDate(next.firstStartedAt),
    toDate(next.lastEventAt),
    toDate(next.compactedBefore),
    toDate(next.clearedThrough),
    next.memberControls,
    next.codec,
    next.recordEncoding,
    next.dictionaryId,
    types.Long.fromNumber(next.rawBytes),
    types.Long.fromNumber(next.storedBytes),
    new Date(next.compactedAt),
    next.chunkIndex === null ? null : encodeChunkIndex(next.chunkIndex),
  ];
}

/** Whether the row already names every setting `named` holds (set additions: writing them again changes nothing). */
function namesNothingNew(named: NamedSettings, known: NamedSettings): boolean {
  const pauses = new Set(known.pauses);
  const periods = new Set(known.periods);
  return named.pauses.every((id) => pauses.has(id)) && named.periods.every((id) => periods.has(id));
}
