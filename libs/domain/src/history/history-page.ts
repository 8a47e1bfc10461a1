import { ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, SessionTrail } from './compressed-history';
import { FoldedHistory, foldHistory, isVisible, visibleRecords } from './history-fold';
import { settledIdFingerprint } from './settled-sessions';
import {
  changedRecords,
  ChangesQuery,
  HistoryPage,
  HistoryQuery,
  latestByTitle,
  pageOfHistory,
  unfinishedOf,
} from './history-query';
import { compareRecordsNewestFirst, ViewingRecord } from './viewing-record';
import { EMPTY_MEMBER_CONTROLS, MemberControls } from '../settings/member-controls';
import { removableByCompaction } from './history-compaction';

/** A record chunk as the version's index describes it: the startedAt range of its records. */
export interface RecordChunkSpan {
  /** Null for a chunk without records (removed ids only). */
  firstStartedAt: number | null;
  lastStartedAt: number | null;
  records: number;
  removedRecordIds: number;
}

/**
 * A trail chunk as the index describes it: cut in recordId order, so ranges do not overlap. `trails` counts
 * every record the chunk covers: those with a trail and the settled ones (ADR 6).
 */
export interface TrailChunkSpan {
  firstRecordId: string;
  lastRecordId: string;
  trails: number;
}

/** The records a trail chunk covers: ids with a trail, and fingerprints of the settled ones. */
export interface TrailChunkMembers {
  trailed: ReadonlySet<string>;
  settledFingerprints: ReadonlySet<number>;
}

/** Per compressed version: enough to read one page without decoding the whole history (issue 12 §3). */
export interface CompressedHistoryIndex {
  recordChunks: readonly RecordChunkSpan[];
  trailChunks: readonly TrailChunkSpan[];
}

export interface RecordChunk {
  records: ViewingRecord[];
  removedRecordIds: string[];
}

/** One compressed version, read chunk by chunk (the port the paged read needs; storage implements it). */
export interface ChunkedCompressedHistory {
  clearedThrough: number | null;
  compactedBefore: number | null;
  /** The member's controls stored with the version (few: kept whole in its metadata). Undefined: none. */
  controls?: MemberControls;
  index: CompressedHistoryIndex;
  recordChunk(index: number): Promise<RecordChunk>;
  trailChunk(index: number): Promise<ReadonlyMap<string, SessionTrail>>;
  /**
   * The records of a trail chunk, cheaper than its trails (cached by storage): a new live session's id
   * falls in some chunk's range, and without this every such chunk would be decoded on every page.
   */
  trailChunkIds(index: number): Promise<TrailChunkMembers>;
}

export function spanOfRecordChunk(chunk: RecordChunk): RecordChunkSpan {
  let first: number | null = null;
  let last: number | null = null;
  for (const r of chunk.records) {
    if (first === null || r.startedAt < first) first = r.startedAt;
    if (last === null || r.startedAt > last) last = r.startedAt;
  }
  return {
    firstStartedAt: first,
    lastStartedAt: last,
    records: chunk.records.length,
    removedRecordIds: chunk.removedRecordIds.length,
  };
}

/** Null for an empty chunk (never written). Settled records (no trail) are covered by the chunk too. */
export function spanOfTrailChunk(
  trails: ReadonlyMap<string, SessionTrail>,
  settledIds: readonly string[] = [],
): TrailChunkSpan | null {
  let first: string | null = null;
  let last: string | null = null;
  for (const id of [...trails.keys(), ...settledIds]) {
    if (first === null || id < first) first = id;
    if (last === null || id > last) last = id;
  }
  const covered = trails.size + settledIds.length;
  return first === null ? null : { firstRecordId: first, lastRecordId: last!, trails: covered };
}

export interface ChunkedReadOptions {
  /** The reader's clock, at which auto-delete is judged (invariant 6); without it auto-delete is not applied. */
  now?: number;
  /**
   * Called once when the records read show a compaction is due: a stored record the member's controls now hide
   * for good (see below), or a settled record live events touch (its trail is rebuilt from the log).
   */
  onCompactionDue?: () => void;
  /**
   * The cutoff of a compaction run now (the reader's now minus COMPACTION_MIN_AGE_MS): a stored record
   * the controls hide for good by then is one it removes physically; others it keeps as hidden records
   * (ADR 8), so asking for them would only cost a run. Without it, any stored record the controls hide.
   */
  compactionCutoff?: number;
}

/**
 * One page of the merged history, equal to `pageOfHistory(visibleRecords(foldHistory(live, whole), now), query)`
 * (property-tested against it), decoding only the chunks the page needs:
 * - the live sessions are folded onto just the compressed records they touch, found through the trail
 *   index (by recordId) and their trail's first event (the record's startedAt, by time range), with the
 *   removed ids (chunks holding them) that keep a removed session hidden;
 * - record chunks are then read newest first, from the cursor on, until the page plus one record is
 *   certainly ahead of every chunk not read: memory is the page and a few chunks, whatever the history;
 * - the member's controls (kept whole with the version, and live) judge each record alone, so a record is
 *   dropped where it is read, as the whole fold drops it.
 * Falls back to the whole history where a live session may touch a record without a trail (versions
 * written before trails) or touches a settled one (rare: a late event of a session settled long ago).
 */
export async function pageOfChunkedHistory(
  liveEvents: readonly ViewingEvent[],
  compressed: ChunkedCompressedHistory,
  query: HistoryQuery,
  options: ChunkedReadOptions = {},
): Promise<HistoryPage> {
  const read = await openChunkedRead(liveEvents, compressed, options);
  if (read.whole !== undefined) return pageOfHistory(read.whole, query);
  const { folded, now } = read;

  // The records that may make the page, newest first, at most limit + 1 of them.
  let candidates: ViewingRecord[] = [];
  const offer = (records: Iterable<ViewingRecord>) => {
    for (const record of records) if (isVisible(record, folded, now) && matches(record, query)) candidates.push(record);
    candidates = candidates.sort(compareRecordsNewestFirst).slice(0, query.limit + 1);
  };
  offer(folded.records.values());
  const order = compressed.index.recordChunks
    .map((span, i) => ({ span, i }))
    .filter(({ span }) => span.records > 0 && mayHold(span, query))
    .sort((a, b) => b.span.lastStartedAt! - a.span.lastStartedAt! || b.i - a.i);
  for (const { span, i } of order) {
    const full = candidates.length > query.limit;
    if (full && candidates[query.limit].startedAt > span.lastStartedAt!) break;
    offer(await read.storedRecords(i));
  }
  read.done();
  return pageOfHistory(candidates, query);
}

/**
 * Every visible record of the merged history (as `visibleRecords(foldHistory(live, whole), now)` holds
 * them, in no order), one batch per record chunk: for readers that need them all but keep few (continue-
 * watching, the export). Memory is one chunk plus what the caller keeps; time grows with the history.
 */
export async function* visibleRecordsByChunk(
  liveEvents: readonly ViewingEvent[],
  compressed: ChunkedCompressedHistory,
  options: ChunkedReadOptions = {},
): AsyncGenerator<readonly ViewingRecord[]> {
  const read = await openChunkedRead(liveEvents, compressed, options);
  if (read.whole !== undefined) {
    yield read.whole;
    return;
  }
  const { folded, now } = read;
  yield [...folded.records.values()].filter((record) => isVisible(record, folded, now));
  for (let i = 0; i < compressed.index.recordChunks.length; i++) {
    if (compressed.index.recordChunks[i].records === 0) continue;
    yield (await read.storedRecords(i)).filter((record) => isVisible(record, folded, now));
  }
  read.done();
}

/** `continueWatching` of the merged history, read chunk by chunk: it keeps one record per title. */
export async function continueWatchingOfChunked(
  liveEvents: readonly ViewingEvent[],
  compressed: ChunkedCompressedHistory,
  limit: number,
  options: ChunkedReadOptions = {},
): Promise<ViewingRecord[]> {
  const latest = new Map<string, ViewingRecord>();
  for await (const records of visibleRecordsByChunk(liveEvents, compressed, options)) latestByTitle(records, latest);
  return unfinishedOf(latest, limit);
}

/** `changedRecords` of the merged history, read chunk by chunk: it keeps at most `limit` records. */
export async function changedRecordsOfChunked(
  liveEvents: readonly ViewingEvent[],
  compressed: ChunkedCompressedHistory,
  query: ChangesQuery,
  options: ChunkedReadOptions = {},
): Promise<ViewingRecord[]> {
  let first: ViewingRecord[] = [];
  for await (const records of visibleRecordsByChunk(liveEvents, compressed, options)) {
    first = changedRecords([...first, ...records], query);
  }
  return first;
}

/**
 * The live sessions folded onto just the compressed records they touch (found through the trail index,
 * by recordId, and their trail's first event, the record's startedAt), with the removed ids that keep a
 * removed session hidden and the member's controls; or, where a live session may touch a record without
 * a trail, the whole history's visible records (`whole`).
 */
type ChunkedRead =
  | { whole: ViewingRecord[] }
  | {
      whole?: undefined;
      folded: FoldedHistory;
      now: number;
      /** The stored records of a chunk, but those of live sessions (they are in `folded`). */
      storedRecords(i: number): Promise<ViewingRecord[]>;
      /** Tells `onCompactionDue` what the records read showed. */
      done(): void;
    };

async function openChunkedRead(
  liveEvents: readonly ViewingEvent[],
  compressed: ChunkedCompressedHistory,
  options: ChunkedReadOptions,
): Promise<ChunkedRead> {
  const now = options.now ?? Number.NEGATIVE_INFINITY;
  const { index } = compressed;
  const loaded = new Map<number, RecordChunk>();
  const recordChunk = async (i: number) => {
    let chunk = loaded.get(i);
    if (chunk === undefined) loaded.set(i, (chunk = await compressed.recordChunk(i)));
    return chunk;
  };

  const liveSessions = new Set<string>();
  for (const event of liveEvents) if ('playbackSessionId' in event) liveSessions.add(event.playbackSessionId);
  const touched = await touchedRecords(liveSessions, compressed, recordChunk);
  if (touched === null) {
    const history = await whole(compressed);
    const folded = foldHistory(liveEvents, history);
    // A settled record that live events touch shows as stored until a compaction rebuilds it: ask for one.
    const removable = removableByCompaction(history.records, folded, now, options.compactionCutoff);
    if (options.onCompactionDue && (removable || folded.settledSessionsTouched.length > 0)) options.onCompactionDue();
    return { whole: visibleRecords(folded, now) };
  }

  const removedRecordIds: string[] = [];
  if (liveSessions.size > 0) {
    for (const [i, span] of index.recordChunks.entries()) {
      if (span.removedRecordIds > 0) removedRecordIds.push(...(await recordChunk(i)).removedRecordIds);
    }
  }
  const folded = foldHistory(liveEvents, {
    records: touched.records,
    removedRecordIds,
    clearedThrough: compressed.clearedThrough,
    compactedBefore: compressed.compactedBefore,
    controls: compressed.controls,
    trails: touched.trails,
  });
  // A stored record the controls now hide for good (auto-delete since the last compaction): the reader asks
  // for a compaction to remove it physically. Only the records read are looked at.
  let hiddenStored = false;
  const noteHidden = (records: readonly ViewingRecord[]) => {
    if (options.onCompactionDue === undefined || hiddenStored) return;
    hiddenStored = removableByCompaction(records, folded, now, options.compactionCutoff);
  };
  noteHidden(touched.records);
  return {
    folded,
    now,
    storedRecords: async (i) => {
      const chunk = await recordChunk(i);
      // Chunks read only for the records need not stay (those of the live fold are few).
      if (!touched.chunks.has(i) && index.recordChunks[i].removedRecordIds === 0) loaded.delete(i);
      noteHidden(chunk.records);
      return chunk.records.filter((record) => !liveSessions.has(record.recordId));
    },
    done: () => {
      if (hiddenStored) options.onCompactionDue!();
    },
  };
}

/**
 * The compressed records (and their trails) of live sessions; null when one may exist that cannot be
 * found by id (some record has no trail).
 */
async function touchedRecords(
  sessions: ReadonlySet<string>,
  compressed: ChunkedCompressedHistory,
  recordChunk: (i: number) => Promise<RecordChunk>,
): Promise<{ records: ViewingRecord[]; trails: Map<string, SessionTrail>; chunks: Set<number> } | null> {
  const result = { records: [] as ViewingRecord[], trails: new Map<string, SessionTrail>(), chunks: new Set<number>() };
  if (sessions.size === 0) return result;
  const { recordChunks, trailChunks } = compressed.index;
  if (recordChunks.length <= 1) {
    // One record chunk (most profiles; the page reads it anyway): the live sessions are looked up in it by id,
    // so its settled records need no fingerprints in the trail chunks (ADR 6, amendment of 2026-11-27).
    const stored = recordChunks.length === 0 ? [] : (await recordChunk(0)).records;
    const matched = stored.filter((record) => sessions.has(record.recordId));
    if (matched.length === 0) return result;
    const trails = await trailsOf(
      matched.map((record) => record.recordId),
      compressed,
    );
    // Settled, or written before trails: the whole history serves this read.
    if (trails === null || matched.some((record) => !trails.has(record.recordId))) return null;
    return { records: matched, trails, chunks: new Set([0]) };
  }
  const records = recordChunks.reduce((n, s) => n + s.records, 0);
  const trailed = trailChunks.reduce((n, s) => n + s.trails, 0);
  if (trailed !== records) return null;
  const trails = await trailsOf([...sessions], compressed);
  if (trails === null) return null;
  result.trails = trails;
  for (const [id, trail] of result.trails) {
    // A record is the fold of its trail: it starts at the trail's first event.
    const startedAt = trail[0].occurredAt;
    let record: ViewingRecord | undefined;
    for (const [i, span] of recordChunks.entries()) {
      if (span.records === 0 || span.firstStartedAt! > startedAt || span.lastStartedAt! < startedAt) continue;
      record = (await recordChunk(i)).records.find((r) => r.recordId === id);
      if (record !== undefined) {
        result.chunks.add(i);
        break;
      }
    }
    if (record === undefined) return null;
    result.records.push(record);
  }
  return result;
}

/**
 * The trails of these ids, each trail chunk read once (5 live sessions of one chunk: 1 read, not 5); null when
 * one of them is a settled record (ADR 6), which cannot be found by its first event.
 */
async function trailsOf(
  ids: readonly string[],
  compressed: ChunkedCompressedHistory,
): Promise<Map<string, SessionTrail> | null> {
  const found = new Map<string, SessionTrail>();
  for (const [j, span] of compressed.index.trailChunks.entries()) {
    const inRange = ids.filter((id) => id >= span.firstRecordId && id <= span.lastRecordId);
    if (inRange.length === 0) continue;
    const members = await compressed.trailChunkIds(j);
    if (inRange.some((id) => !members.trailed.has(id) && members.settledFingerprints.has(settledIdFingerprint(id))))
      return null;
    const wanted = inRange.filter((id) => members.trailed.has(id));
    if (wanted.length === 0) continue;
    const trails = await compressed.trailChunk(j);
    for (const id of wanted) {
      const trail = trails.get(id);
      if (trail !== undefined) found.set(id, trail);
    }
  }
  return found;
}

/** The whole compressed history, trails included. */
async function whole(compressed: ChunkedCompressedHistory): Promise<CompressedHistory> {
  const records: ViewingRecord[] = [];
  const removedRecordIds: string[] = [];
  const trails = new Map<string, SessionTrail>();
  for (let i = 0; i < compressed.index.recordChunks.length; i++) {
    const chunk = await compressed.recordChunk(i);
    records.push(...chunk.records);
    removedRecordIds.push(...chunk.removedRecordIds);
  }
  for (let j = 0; j < compressed.index.trailChunks.length; j++) {
    for (const [id, trail] of await compressed.trailChunk(j)) trails.set(id, trail);
  }
  return {
    records,
    removedRecordIds,
    clearedThrough: compressed.clearedThrough,
    compactedBefore: compressed.compactedBefore,
    controls: compressed.controls ?? EMPTY_MEMBER_CONTROLS,
    trails,
  };
}

/** After the cursor and within the query's filters, as `pageOfHistory` decides. */
function matches(record: ViewingRecord, query: HistoryQuery): boolean {
  if (query.cursor && compareRecordsNewestFirst(record, { ...record, ...query.cursor }) <= 0) return false;
  if (query.from !== undefined && record.startedAt < query.from) return false;
  if (query.to !== undefined && record.startedAt >= query.to) return false;
  if (query.changedSince !== undefined && record.lastEventAt < query.changedSince) return false;
  return query.titleId === undefined || record.titleId === query.titleId;
}

/** Whether a chunk of this span may hold a record after the cursor and within from/to. */
function mayHold(span: RecordChunkSpan, query: HistoryQuery): boolean {
  if (query.from !== undefined && span.lastStartedAt! < query.from) return false;
  if (query.to !== undefined && span.firstStartedAt! >= query.to) return false;
  return query.cursor === undefined || span.firstStartedAt! <= query.cursor.startedAt;
}
