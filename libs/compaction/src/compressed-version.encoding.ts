import { CompactedHistory, CompressedHistoryIndex, UNKNOWN_SETTLED_DIGEST, ViewingRecord } from '@vh/domain';
import {
  CompressedHistoryVersion,
  encodeChunksWithSpans,
  encodeMemberControls,
  encodeTrailChunksWithSpans,
  LATEST_ZSTD_DICTIONARY,
  loadZstd,
  NO_DICTIONARY,
  RECORD_ENCODING,
  SettledTrailEntry,
  settledTrailEntryOf,
  UnknownZstdDictionaryError,
  ZSTD_CODEC,
  ZSTD_DICTIONARIES,
} from '@vh/storage';

export interface ChunkEncodingSettings {
  chunkMaxBytes: number;
  zstdLevel: number;
  dictionaryId: number;
}

/** A compacted history as the chunks of one chunk set: record chunks first, then trail chunks. */
export interface EncodedVersion {
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
  const records = encodeChunksWithSpans(next, settings.chunkMaxBytes);
  // Records without a trail are settled (ADR 6): the trail chunks keep a fingerprint of each id.
  const settled = new Map<string, SettledTrailEntry>();
  for (const r of next.records) {
    if (next.trails.has(r.recordId)) continue;
    const digest = next.settledDigests.get(r.recordId) ?? UNKNOWN_SETTLED_DIGEST;
    settled.set(r.recordId, settledTrailEntryOf(digest, r.firstAcceptedAt));
  }
  const trails = encodeTrailChunksWithSpans(next.trails, settings.chunkMaxBytes, settled);
  const raw = [...records.chunks, ...trails.chunks];
  const stored = raw.map((chunk) => zstd.compress(chunk, settings.zstdLevel, settings.dictionaryId));
  return {
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
    recordEncoding: RECORD_ENCODING,
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
