import {
  PLAYBACK_EVENT_TYPES,
  PlaybackEvent,
  settledIdFingerprint,
  SessionTrail,
  spanOfTrailChunk,
  TrailChunkMembers,
  TrailChunkSpan,
} from '@vh/domain';
import { ByteReader, ByteWriter, bytesToUuid, uuidToBytes } from './binary';
import { MalformedChunkError } from './history-chunk.codec';

/**
 * Session trails (the events folded into each record), in chunks of their own after the record chunks
 * of a set: only the compactor, and a read whose live events touch a compressed record, decode them.
 * Columnar like the records: ids as 16 bytes, times as deltas within a trail, strings as table indexes.
 * v2 adds the settled records of the chunk's id range (ADR 6) as sorted 32-bit fingerprints, delta-coded,
 * after the trailed ids: a paged read learns from them that a live session may touch a settled record.
 */
const MAGIC_V1 = Buffer.from('VHT1', 'latin1');
const MAGIC = Buffer.from('VHT2', 'latin1');

export function encodeTrailChunk(
  trails: ReadonlyMap<string, SessionTrail>,
  settledIds: readonly string[] = [],
): Buffer {
  const entries = [...trails].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const events = entries.flatMap(([, trail]) => trail);
  const w = new ByteWriter();
  w.bytes(MAGIC);
  const titles = stringTable(events.map((e) => e.titleId));
  const devices = stringTable(events.map((e) => e.deviceId));
  for (const table of [titles, devices]) {
    w.varint(table.size);
    for (const value of table.keys()) w.string(value);
  }
  w.varint(entries.length);
  for (const [recordId] of entries) w.bytes(uuidToBytes(recordId));
  const fingerprints = settledIds.map(settledIdFingerprint).sort((a, b) => a - b);
  w.varint(fingerprints.length);
  let previousFingerprint = 0;
  for (const fingerprint of fingerprints) {
    w.varint(fingerprint - previousFingerprint);
    previousFingerprint = fingerprint;
  }
  for (const [, trail] of entries) w.varint(trail.length);
  for (const e of events) w.bytes(uuidToBytes(e.eventId));
  for (const [, trail] of entries) {
    let previous = 0;
    for (const e of trail) {
      w.signed(e.occurredAt - previous);
      previous = e.occurredAt;
    }
  }
  // 0: accepted before acceptance times were stored; otherwise 1 + zigzag(acceptedAt - occurredAt).
  for (const e of events) w.varint(e.acceptedAt === undefined ? 0 : 1 + zigzag(e.acceptedAt - e.occurredAt));
  for (const e of events) w.varint(PLAYBACK_EVENT_TYPES.indexOf(e.type));
  for (const e of events) w.varint(e.positionMs);
  for (const e of events) w.varint(e.titleDurationMs === undefined ? 0 : e.titleDurationMs + 1);
  for (const e of events) w.varint(titles.get(e.titleId)!);
  for (const e of events) w.varint(devices.get(e.deviceId)!);
  return w.toBuffer();
}

/** Only the records a trail chunk covers (they come before its events): what a paged read looks up. */
export function decodeTrailChunkRecordIds(bytes: Buffer): TrailChunkMembers {
  try {
    const r = new ByteReader(bytes);
    const v1 = readMagic(r);
    for (let table = 0; table < 2; table++) for (let i = r.varint(); i > 0; i--) r.string();
    const trailed = new Set(Array.from({ length: r.varint() }, () => bytesToUuid(r.bytes(16))));
    return { trailed, settledFingerprints: v1 ? new Set() : readFingerprints(r) };
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}

/** True for a v1 chunk (no settled records). */
function readMagic(r: ByteReader): boolean {
  const magic = r.bytes(MAGIC.length);
  if (magic.equals(MAGIC)) return false;
  if (magic.equals(MAGIC_V1)) return true;
  throw new MalformedChunkError('not a trail chunk');
}

function readFingerprints(r: ByteReader): Set<number> {
  const fingerprints = new Set<number>();
  let previous = 0;
  for (let i = r.varint(); i > 0; i--) fingerprints.add((previous += r.varint()));
  return fingerprints;
}

export function isTrailChunk(bytes: Buffer): boolean {
  const magic = bytes.subarray(0, MAGIC.length);
  return magic.equals(MAGIC) || magic.equals(MAGIC_V1);
}

export function decodeTrailChunk(profileId: string, bytes: Buffer): Map<string, PlaybackEvent[]> {
  try {
    const r = new ByteReader(bytes);
    const v1 = readMagic(r);
    const titles = Array.from({ length: r.varint() }, () => r.string());
    const devices = Array.from({ length: r.varint() }, () => r.string());
    const recordIds = Array.from({ length: r.varint() }, () => bytesToUuid(r.bytes(16)));
    if (!v1) readFingerprints(r); // settled records have no trail to decode
    const lengths = recordIds.map(() => r.varint());
    const total = lengths.reduce((n, l) => n + l, 0);
    const column = <T>(read: () => T): T[] => Array.from({ length: total }, read);
    const eventIds = column(() => bytesToUuid(r.bytes(16)));
    const occurredAt: number[] = [];
    for (const length of lengths) {
      let previous = 0;
      for (let i = 0; i < length; i++) occurredAt.push((previous += r.signed()));
    }
    const accepted = column(() => r.varint());
    const type = column(() => PLAYBACK_EVENT_TYPES[r.varint()]);
    const position = column(() => r.varint());
    const duration = column(() => r.varint());
    const title = column(() => titles[r.varint()]);
    const device = column(() => devices[r.varint()]);
    if (!r.done) throw new MalformedChunkError('trailing bytes');
    const trails = new Map<string, PlaybackEvent[]>();
    let k = 0;
    recordIds.forEach((recordId, t) => {
      const trail: PlaybackEvent[] = [];
      for (let i = 0; i < lengths[t]; i++, k++) {
        if (type[k] === undefined || title[k] === undefined || device[k] === undefined)
          throw new MalformedChunkError('index out of range');
        trail.push({
          eventId: eventIds[k],
          profileId,
          type: type[k],
          titleId: title[k],
          playbackSessionId: recordId,
          deviceId: device[k],
          positionMs: position[k],
          occurredAt: occurredAt[k],
          ...(duration[k] === 0 ? {} : { titleDurationMs: duration[k] - 1 }),
          ...(accepted[k] === 0 ? {} : { acceptedAt: occurredAt[k] + unzigzag(accepted[k] - 1) }),
        });
      }
      trails.set(recordId, trail);
    });
    return trails;
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}

/** Splits trails into chunks of at most `maxBytes` encoded (one trail is never split). */
export function encodeTrailChunks(
  trails: ReadonlyMap<string, SessionTrail>,
  maxBytes: number,
  settledIds: readonly string[] = [],
): Buffer[] {
  return encodeTrailChunksWithSpans(trails, maxBytes, settledIds).chunks;
}

/**
 * The chunks cut in recordId order, so that their id ranges do not overlap, and the span of each for
 * the version's index: a paged read finds the trail of one session by its id, and whether a settled record
 * (`settledIds`, no trail) may have it.
 */
export function encodeTrailChunksWithSpans(
  trails: ReadonlyMap<string, SessionTrail>,
  maxBytes: number,
  settledIds: readonly string[] = [],
): { chunks: Buffer[]; spans: TrailChunkSpan[] } {
  const chunks: Buffer[] = [];
  const spans: TrailChunkSpan[] = [];
  type Entry = [string, SessionTrail | null];
  const split = (part: Entry[]) => {
    const map = new Map(part.filter((e): e is [string, SessionTrail] => e[1] !== null));
    const settled = part.filter(([, trail]) => trail === null).map(([id]) => id);
    const encoded = encodeTrailChunk(map, settled);
    if (encoded.length <= maxBytes || part.length <= 1) {
      const span = spanOfTrailChunk(map, settled);
      if (span !== null) {
        chunks.push(encoded);
        spans.push(span);
      }
      return;
    }
    const half = Math.ceil(part.length / 2);
    split(part.slice(0, half));
    split(part.slice(half));
  };
  const entries: Entry[] = [...trails, ...settledIds.map((id): Entry => [id, null])];
  split(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { chunks, spans };
}

const zigzag = (value: number) => (value >= 0 ? value * 2 : -value * 2 - 1);
const unzigzag = (raw: number) => (raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2);

function stringTable(values: string[]): Map<string, number> {
  const table = new Map<string, number>();
  for (const value of values) if (!table.has(value)) table.set(value, table.size);
  return table;
}
