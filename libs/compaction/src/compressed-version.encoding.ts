import {
  CompactedHistory,
  CompressedHistoryIndex,
  SettledDigest,
  UNKNOWN_SETTLED_DIGEST,
  ViewingRecord,
} from '@vh/domain';
import {
  CompressedHistoryVersion,
  encodeChunksWithSpans,
  encodeMemberControls,
  encodeTrailChunksWithSpans,
  LATEST_ZSTD_DICTIONARY,
  loadZstd,
  NO_DICTIONARY,
  PREVIOUS_RECORD_ENCODING,
  RECORD_ENCODING,
  SettledTrailEntry,
  settledTrailEntryOf,
  WritableRecordEncoding,
  UnknownZstdDictionaryError,
  ZSTD_CODEC,
  ZSTD_DICTIONARIES,
} from '@vh/storage';

export interface ChunkEncodingSettings {
  chunkMaxBytes: number;
  zstdLevel: number;
  dictionaryId: number;
  /** Default RECORD_ENCODING; the previous one only for a rolling upgrade (COMPACTION_RECORD_ENCODING). */
  recordEncoding?: WritableRecordEncoding;
}

/** A compacted history as the chunks of one chunk set: record chunks first, then trail chunks. */
export interface EncodedVersion {
  recordEncoding: WritableRecordEncoding;
  stored: Buffer[];
  recordChunks: number;
  rawBytes: number;
  storedBytes: number;
  index: CompressedHistoryIndex;
}

/** The dictionary new chunks are compressed with; an unknown one fails at start-up, not on the first job. */
export function chunkDictionaryId(wanted: number | 'latest'): number {
  const dictionaryId = wanted === 'latest' ? LATEST_ZSTD_DICTIONARY : wanted;
  if (dictionaryId !== NO_DICTIONARY && ZSTD_DICTIONARIES[dictionaryId] === undefined) {
    throw new UnknownZstdDictionaryError(dictionaryId);
  }
  return dictionaryId;
}

/** Encodes and compresses; shared by compaction and repair so both write the same format. */
export async function encodeVersion(next: CompactedHistory, settings: ChunkEncodingSettings): Promise<EncodedVersion> {
  const zstd = await loadZstd();
  const recordEncoding = settings.recordEncoding ?? RECORD_ENCODING;
  const previous = recordEncoding === PREVIOUS_RECORD_ENCODING;
  // Records without a trail are settled (ADR 6): each keeps its digest beside it in its record chunk (v2: in
  // the trail chunks, under a fingerprint of its id).
  const digests = new Map<string, SettledDigest>();
  for (const r of next.records) {
    if (next.trails.has(r.recordId)) continue;
    digests.set(r.recordId, next.settledDigests.get(r.recordId) ?? UNKNOWN_SETTLED_DIGEST);
  }
  const records = encodeChunksWithSpans({ ...next, settledDigests: digests }, settings.chunkMaxBytes, recordEncoding);
  // With more than one record chunk, a paged read finds whether a live session is a settled record through
  // the trail chunks: they keep a fingerprint of each settled id (its digest is in the record chunk: zeros
  // here). With one, the read looks the session up in that chunk, which it reads anyway (history-page.ts).
  const fingerprints = new Map<string, SettledTrailEntry>();
  const byId = new Map(next.records.map((r) => [r.recordId, r]));
  if (previous || records.chunks.length > 1)
    for (const [id, digest] of digests)
      fingerprints.set(
        id,
        previous ? settledTrailEntryOf(digest, byId.get(id)!.firstAcceptedAt) : { events: 0, acceptedSpan: 0 },
      );
  const trails = encodeTrailChunksWithSpans(next.trails, settings.chunkMaxBytes, fingerprints);
  const raw = [...records.chunks, ...trails.chunks];
  const stored = raw.map((chunk) => zstd.compress(chunk, settings.zstdLevel, settings.dictionaryId));
  return {
    recordEncoding,
    stored,
    recordChunks: records.chunks.length,
    rawBytes: sum(raw),
    storedBytes: sum(stored),
    index: { recordChunks: records.spans, trailChunks: trails.spans },
  };
}

/** The metadata row that makes a written chunk set current. */
export function describeVersion(
  profileId: string,
  version: number,
  written: { chunkSet: string; checksums: string[] },
  encoded: EncodedVersion,
  next: CompactedHistory,
  dictionaryId: number,
  now: number,
): CompressedHistoryVersion {
  return {
    profileId,
    version,
    chunkSet: written.chunkSet,
    chunkCount: encoded.recordChunks,
    trailChunkCount: encoded.stored.length - encoded.recordChunks,
    chunkChecksums: written.checksums,
    recordCount: next.records.length,
    removedCount: next.removedRecordIds.length,
    firstStartedAt: earliestStart(next.records),
    lastEventAt: latestEvent(next.records),
    compactedBefore: next.compactedBefore,
    clearedThrough: next.clearedThrough,
    memberControls: encodeMemberControls(next.controls),
    codec: ZSTD_CODEC,
    recordEncoding: encoded.recordEncoding,
    dictionaryId,
    rawBytes: encoded.rawBytes,
    storedBytes: encoded.storedBytes,
    compactedAt: now,
    chunkIndex: encoded.index,
  };
}

// Loops, not Math.min(...records): a spread of more than about 125,000 arguments overflows the stack.
export function earliestStart(records: readonly ViewingRecord[]): number | null {
  let earliest: number | null = null;
  for (const r of records) if (earliest === null || r.startedAt < earliest) earliest = r.startedAt;
  return earliest;
}

export function latestEvent(records: readonly ViewingRecord[]): number | null {
  let latest: number | null = null;
  for (const r of records) if (latest === null || r.lastEventAt > latest) latest = r.lastEventAt;
  return latest;
}

function sum(buffers: Buffer[]): number {
  return buffers.reduce((n, b) => n + b.length, 0);
}
