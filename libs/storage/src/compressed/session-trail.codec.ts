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
import { MalformedChunkError, SettledTrailEntry } from './history-chunk.codec';

/**
 * Session trails (the events folded into each record), in chunks of their own after the record chunks
 * of a set: only the compactor, and a read whose live events touch a compressed record, decode them.
 * Columnar like the records: ids as 16 bytes, times as deltas within a trail, strings as table indexes.
 * v2 adds the settled records of the chunk's id range (ADR 6) as sorted 32-bit fingerprints, delta-coded,
 * after the trailed ids: a paged read learns from them that a live session may touch a settled record.
 * Since record encoding v3 the digests are beside the records and the fingerprints are written only where a
 * version has more than one record chunk (with one, a paged read looks its live sessions up in that chunk):
 * their counts and spans are then zeros, "not known here" (ADR 6, amendment of 2026-11-27).
 */
const MAGIC_V1 = Buffer.from('VHT1', 'latin1');
// VHT2 was two layouts of unreleased builds (session 7), never read: VHT3 is the first with settled records.
const MAGIC = Buffer.from('VHT3', 'latin1');

/**
 * `settled`: the settled records of the chunk's id range, by id. A chunk with none is written as v1, which
 * every earlier build reads (a rolling deploy: readers first).
 */
export function encodeTrailChunk(
  trails: ReadonlyMap<string, SessionTrail>,
  settled: ReadonlyMap<string, SettledTrailEntry> = new Map(),
): Buffer {
  const entries = [...trails].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const events = entries.flatMap(([, trail]) => trail);
  const w = new ByteWriter();
  w.bytes(settled.size === 0 ? MAGIC_V1 : MAGIC);
  const titles = stringTable(events.map((e) => e.titleId));
  const devices = stringTable(events.map((e) => e.deviceId));
  for (const table of [titles, devices]) {
    w.varint(table.size);
    for (const value of table.keys()) w.string(value);
  }
  w.varint(entries.length);
  for (const [recordId] of entries) w.bytes(uuidToBytes(recordId));
  if (settled.size > 0) {
    const byFingerprint = [...settled]
      .map(([id, entry]): [number, SettledTrailEntry] => [settledIdFingerprint(id), entry])
      .sort(([a], [b]) => a - b);
    w.varint(byFingerprint.length);
    let previousFingerprint = 0;
    for (const [fingerprint] of byFingerprint) {
      w.varint(fingerprint - previousFingerprint);
      previousFingerprint = fingerprint;
    }
    for (const [, entry] of byFingerprint) w.varint(entry.events);
    for (const [, entry] of byFingerprint) w.varint(entry.acceptedSpan);
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

interface ChunkHead {
  recordIds: string[];
  /** Trail lengths, in recordIds order. */
  lengths: number[];
  /** Settled records by id fingerprint. */
  settled: Map<number, SettledTrailEntry>;
}

/**
 * Everything before the events. A v1 chunk has no settled section, but a trail of length 0 (written by one
 * intermediate build of session 7) stands for a settled record of unknown size: never a real trail.
 */
function readHead(r: ByteReader): ChunkHead & { titles: string[]; devices: string[] } {
  const magic = r.bytes(MAGIC.length);
  const v1 = magic.equals(MAGIC_V1);
  if (!v1 && !magic.equals(MAGIC)) throw new MalformedChunkError('not a trail chunk');
  const titles = Array.from({ length: r.varint() }, () => r.string());
  const devices = Array.from({ length: r.varint() }, () => r.string());
  const recordIds = Array.from({ length: r.varint() }, () => bytesToUuid(r.bytes(16)));
  const settled = new Map<number, SettledTrailEntry>();
  if (!v1) {
    const fingerprints: number[] = [];
    let previous = 0;
    for (let i = r.varint(); i > 0; i--) fingerprints.push((previous += r.varint()));
    const events = fingerprints.map(() => r.varint());
    const spans = fingerprints.map(() => r.varint());
    fingerprints.forEach((fingerprint, i) =>
      addSettled(settled, fingerprint, { events: events[i], acceptedSpan: spans[i] }),
    );
  }
  const lengths = recordIds.map(() => r.varint());
  recordIds.forEach((id, i) => {
    if (lengths[i] === 0) addSettled(settled, settledIdFingerprint(id), { events: 0, acceptedSpan: 0 });
  });
  return { titles, devices, recordIds, lengths, settled };
}

/**
 * Two settled ids with one fingerprint (odds ~n²/2^33): the weaker check of the two, the smaller count and
 * the later acceptance (0 stands for not known, the weakest).
 */
export function addSettled(settled: Map<number, SettledTrailEntry>, fingerprint: number, entry: SettledTrailEntry) {
  const seen = settled.get(fingerprint);
  if (seen === undefined) return void settled.set(fingerprint, entry);
  const span =
    seen.acceptedSpan === 0 || entry.acceptedSpan === 0 ? 0 : Math.max(seen.acceptedSpan, entry.acceptedSpan);
  settled.set(fingerprint, { events: Math.min(seen.events, entry.events), acceptedSpan: span });
}

/** Only the records a trail chunk covers (they come before its events): what a paged read looks up. */
export function decodeTrailChunkRecordIds(bytes: Buffer): TrailChunkMembers {
  try {
    const { recordIds, lengths, settled } = readHead(new ByteReader(bytes));
    return {
      trailed: new Set(recordIds.filter((_, i) => lengths[i] > 0)),
      settledFingerprints: new Set(settled.keys()),
    };
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}

/** The settled records a trail chunk covers, by id fingerprint. */
export function decodeSettledEntries(bytes: Buffer): Map<number, SettledTrailEntry> {
  try {
    return readHead(new ByteReader(bytes)).settled;
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}

export function isTrailChunk(bytes: Buffer): boolean {
  const magic = bytes.subarray(0, MAGIC.length);
  return magic.equals(MAGIC) || magic.equals(MAGIC_V1);
}

export function decodeTrailChunk(profileId: string, bytes: Buffer): Map<string, PlaybackEvent[]> {
  try {
    const r = new ByteReader(bytes);
    const { titles, devices, recordIds, lengths } = readHead(r);
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
      if (lengths[t] === 0) return; // settled (see readHead)
      const trail: PlaybackEvent[] = [];
      for (let i = 0; i < lengths[t]; i++, k++) {
        if (type[k] === undefined || title[k] === undefined || device[k] === undefined)
          throw new MalformedChunkError('index out of range');
        const event: PlaybackEvent = {
          eventId: eventIds[k],
          profileId,
          type: type[k],
          titleId: title[k],
          playbackSessionId: recordId,
          deviceId: device[k],
          positionMs: position[k],
          occurredAt: occurredAt[k],
        };
        // Assigned, not spread: a conditional spread per event costs tens of times a plain literal (toEvent, session 12).
        if (duration[k] !== 0) event.titleDurationMs = duration[k] - 1;
        if (accepted[k] !== 0) event.acceptedAt = occurredAt[k] + unzigzag(accepted[k] - 1);
        trail.push(event);
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
  settled: ReadonlyMap<string, SettledTrailEntry> = new Map(),
): Buffer[] {
  return encodeTrailChunksWithSpans(trails, maxBytes, settled).chunks;
}

/**
 * The chunks cut in recordId order, so that their id ranges do not overlap, and the span of each for
 * the version's index: a paged read finds the trail of one session by its id, and whether a settled record
 * (`settled`: no trail; by id, its distinct events) may have it.
 */
export function encodeTrailChunksWithSpans(
  trails: ReadonlyMap<string, SessionTrail>,
  maxBytes: number,
  settled: ReadonlyMap<string, SettledTrailEntry> = new Map(),
): { chunks: Buffer[]; spans: TrailChunkSpan[] } {
  const chunks: Buffer[] = [];
  const spans: TrailChunkSpan[] = [];
  type Entry = [string, SessionTrail | SettledTrailEntry];
  const split = (part: Entry[]) => {
    const map = new Map(part.filter((e): e is [string, SessionTrail] => Array.isArray(e[1])));
    const settledPart = new Map(part.filter((e): e is [string, SettledTrailEntry] => !Array.isArray(e[1])));
    const encoded = encodeTrailChunk(map, settledPart);
    if (encoded.length <= maxBytes || part.length <= 1) {
      const span = spanOfTrailChunk(map, [...settledPart.keys()]);
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
  const entries: Entry[] = [...trails, ...settled];
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
