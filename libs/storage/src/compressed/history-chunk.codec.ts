import {
  PlaybackState,
  RecordChunkSpan,
  SettledDigest,
  spanOfRecordChunk,
  ViewingHistoryError,
  ViewingRecord,
} from '@vh/domain';
import { ByteReader, ByteWriter, bytesToUuid, uuidToBytes } from './binary';

/**
 * The compact record encoding inside a compressed-history chunk (before zstd). Columnar: each field of
 * all records is stored together, so zstd sees similar bytes side by side. Ids are 16 raw bytes, times
 * are deltas, titles and devices are indexes into a string table. A chunk is self-contained.
 * v2 adds firstAcceptedAt; the session trails live in chunks of their own (session-trail.codec.ts),
 * after the record chunks of the same set, so reads do not fetch them.
 * v3 adds each settled record's digest (ADR 6) beside it, two varint columns, instead of a fingerprint of its
 * id with the digest in a trail chunk: 5.4 fewer bytes of zstd a settled record at 50 records a profile, and
 * a profile whose records are all settled has no trail chunk at all (measured, BENCHMARKS.md).
 */
export const RECORD_ENCODING = 'vh-columnar-v3';
/** The layout builds before v3 read: still written on demand, for a rolling upgrade (COMPACTION_RECORD_ENCODING). */
export const PREVIOUS_RECORD_ENCODING = 'vh-columnar-v2';
export type WritableRecordEncoding = typeof RECORD_ENCODING | typeof PREVIOUS_RECORD_ENCODING;
/** Encodings this build reads: v1 chunks (before trails) and v2 (digests in trail chunks) stay readable. */
export const READABLE_RECORD_ENCODINGS: readonly string[] = [
  'vh-columnar-v1',
  PREVIOUS_RECORD_ENCODING,
  RECORD_ENCODING,
];
const MAGIC_V1 = Buffer.from('VHC1', 'latin1');
const MAGIC_V2 = Buffer.from('VHC2', 'latin1');
const MAGIC = Buffer.from('VHC3', 'latin1');
const STATES: PlaybackState[] = ['playing', 'paused', 'stopped'];

/** What a chunk keeps of a settled record's digest (ADR 6; the domain's SettledDigest, relative to the record). */
export interface SettledTrailEntry {
  /** Distinct events the record was folded from; 0: not known. */
  events: number;
  /** 1 + its last acceptance in whole seconds (rounded up) after its first; 0: not known. */
  acceptedSpan: number;
}

/** A settled record's digest as a chunk keeps it, relative to the record's first acceptance. */
export function settledTrailEntryOf(digest: SettledDigest, firstAcceptedAt: number): SettledTrailEntry {
  const span =
    digest.lastAcceptedAt === null ? 0 : 1 + Math.max(0, Math.ceil((digest.lastAcceptedAt - firstAcceptedAt) / 1000));
  return { events: digest.events, acceptedSpan: span };
}

/** The digest back from its entry (the last acceptance rounded up to the second: a weaker bound, never a tighter one). */
export function settledDigestOf(entry: SettledTrailEntry | undefined, firstAcceptedAt: number): SettledDigest {
  const lastAcceptedAt = entry && entry.acceptedSpan > 0 ? firstAcceptedAt + (entry.acceptedSpan - 1) * 1000 : null;
  return { events: entry?.events ?? 0, lastAcceptedAt };
}

export interface HistoryChunk {
  records: ViewingRecord[];
  removedRecordIds: string[];
  /**
   * Settled records' digests, by id (ADR 6). Encoding: a record without one (a trailed record) keeps zeros.
   * Decoding: present for v3 chunks, with the known digests only; absent for v1 and v2 chunks (their
   * digests, if any, are in the trail chunks, by fingerprint).
   */
  settledDigests?: ReadonlyMap<string, SettledDigest>;
}

export class MalformedChunkError extends ViewingHistoryError {
  readonly code = 'malformed_chunk';
  constructor(message: string) {
    super(`malformed compressed-history chunk: ${message}`);
  }
}

/** v2 (`PREVIOUS_RECORD_ENCODING`) keeps no digests: the caller puts them in the trail chunks. */
export function encodeChunk(chunk: HistoryChunk, encoding: WritableRecordEncoding = RECORD_ENCODING): Buffer {
  const records = [...chunk.records].sort((a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1));
  const v3 = encoding === RECORD_ENCODING;
  const w = new ByteWriter();
  w.bytes(v3 ? MAGIC : MAGIC_V2);
  const titles = stringTable(records.map((r) => r.titleId));
  const devices = stringTable(records.map((r) => r.deviceId));
  w.varint(records.length);
  for (const table of [titles, devices]) {
    w.varint(table.size);
    for (const value of table.keys()) w.string(value);
  }
  for (const r of records) w.bytes(uuidToBytes(r.recordId));
  let previous = 0;
  for (const r of records) {
    w.signed(r.startedAt - previous);
    previous = r.startedAt;
  }
  for (const r of records) w.varint(r.lastEventAt - r.startedAt);
  for (const r of records) w.varint(r.positionMs);
  for (const r of records) w.varint(r.maxPositionMs - r.positionMs);
  for (const r of records) w.varint(r.watchedMs);
  for (const r of records) w.varint(r.titleDurationMs === null ? 0 : r.titleDurationMs + 1);
  for (const r of records) w.varint(STATES.indexOf(r.state));
  for (const r of records) w.varint(titles.get(r.titleId)!);
  for (const r of records) w.varint(devices.get(r.deviceId)!);
  for (const r of records) w.signed(r.firstAcceptedAt - r.startedAt);
  const entries = records.map((r) => {
    const digest = chunk.settledDigests?.get(r.recordId);
    return digest === undefined ? { events: 0, acceptedSpan: 0 } : settledTrailEntryOf(digest, r.firstAcceptedAt);
  });
  if (v3) for (const e of entries) w.varint(e.events);
  if (v3) for (const e of entries) w.varint(e.acceptedSpan);
  w.varint(chunk.removedRecordIds.length);
  for (const id of chunk.removedRecordIds) w.bytes(uuidToBytes(id));
  return w.toBuffer();
}

/** `settledDigests: false`: the records only (paged reads, which cache chunks and never need digests). */
export function decodeChunk(
  profileId: string,
  bytes: Buffer,
  options: { settledDigests?: boolean } = {},
): HistoryChunk {
  try {
    const r = new ByteReader(bytes);
    const magic = r.bytes(MAGIC.length);
    const v1 = magic.equals(MAGIC_V1);
    const v3 = magic.equals(MAGIC);
    if (!v1 && !v3 && !magic.equals(MAGIC_V2)) throw new MalformedChunkError('unknown format');
    const count = r.varint();
    const titles = Array.from({ length: r.varint() }, () => r.string());
    const devices = Array.from({ length: r.varint() }, () => r.string());
    const column = <T>(read: () => T): T[] => Array.from({ length: count }, read);
    const ids = column(() => bytesToUuid(r.bytes(16)));
    let previous = 0;
    const startedAt = column(() => (previous += r.signed()));
    const duration = column(() => r.varint());
    const position = column(() => r.varint());
    const beyond = column(() => r.varint());
    const watched = column(() => r.varint());
    const titleDuration = column(() => r.varint());
    const state = column(() => STATES[r.varint()]);
    const title = column(() => titles[r.varint()]);
    const device = column(() => devices[r.varint()]);
    // v1 knew no acceptance times: its records are judged by their start, as they were then.
    const acceptedAfterStart = v1 ? null : column(() => r.signed());
    const digestEvents = v3 ? column(() => r.varint()) : null;
    const digestSpans = v3 ? column(() => r.varint()) : null;
    const removedRecordIds = Array.from({ length: r.varint() }, () => bytesToUuid(r.bytes(16)));
    if (!r.done) throw new MalformedChunkError('trailing bytes');
    const records = ids.map((recordId, i): ViewingRecord => {
      if (state[i] === undefined || title[i] === undefined || device[i] === undefined)
        throw new MalformedChunkError('index out of range');
      return {
        recordId,
        profileId,
        titleId: title[i],
        deviceId: device[i],
        startedAt: startedAt[i],
        lastEventAt: startedAt[i] + duration[i],
        positionMs: position[i],
        maxPositionMs: position[i] + beyond[i],
        watchedMs: watched[i],
        state: state[i],
        titleDurationMs: titleDuration[i] === 0 ? null : titleDuration[i] - 1,
        firstAcceptedAt: startedAt[i] + (acceptedAfterStart?.[i] ?? 0),
      };
    });
    if (digestEvents === null || digestSpans === null || options.settledDigests === false)
      return { records, removedRecordIds };
    const settledDigests = new Map<string, SettledDigest>();
    records.forEach((record, i) => {
      const entry = { events: digestEvents[i], acceptedSpan: digestSpans[i] };
      if (entry.events > 0 || entry.acceptedSpan > 0)
        settledDigests.set(record.recordId, settledDigestOf(entry, record.firstAcceptedAt));
    });
    return { records, removedRecordIds, settledDigests };
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}

/**
 * Splits a history into chunks whose encoding is at most `maxBytes` (a single record is never split).
 * Records are cut in start-time order, so a chunk covers one stretch of time.
 */
export function encodeChunks(
  history: HistoryChunk,
  maxBytes: number,
  encoding: WritableRecordEncoding = RECORD_ENCODING,
): Buffer[] {
  return encodeChunksWithSpans(history, maxBytes, encoding).chunks;
}

/** The chunks, and the span of each for the version's index (what a paged read skips by). */
export function encodeChunksWithSpans(
  history: HistoryChunk,
  maxBytes: number,
  encoding: WritableRecordEncoding = RECORD_ENCODING,
): { chunks: Buffer[]; spans: RecordChunkSpan[] } {
  const records = [...history.records].sort((a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1));
  const removed = [...history.removedRecordIds];
  const chunks: Buffer[] = [];
  const spans: RecordChunkSpan[] = [];
  const split = (part: ViewingRecord[], ids: string[]) => {
    const encoded = encodeChunk(
      { records: part, removedRecordIds: ids, settledDigests: history.settledDigests },
      encoding,
    );
    if (encoded.length <= maxBytes || part.length + ids.length <= 1) {
      chunks.push(encoded);
      spans.push(spanOfRecordChunk({ records: part, removedRecordIds: ids }));
      return;
    }
    if (part.length > 1 || ids.length === 0) {
      const half = Math.ceil(part.length / 2);
      split(part.slice(0, half), []);
      split(part.slice(half), ids);
    } else {
      // One record and its ids: at least one id leaves it, else one record with one id recursed for ever.
      const half = Math.floor(ids.length / 2);
      split(part, ids.slice(0, half));
      split([], ids.slice(half));
    }
  };
  split(records, removed);
  return { chunks, spans };
}

function stringTable(values: string[]): Map<string, number> {
  const table = new Map<string, number>();
  for (const value of values) if (!table.has(value)) table.set(value, table.size);
  return table;
}
