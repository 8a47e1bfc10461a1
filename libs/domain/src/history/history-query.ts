import { FieldIssue, Validated } from '../events/viewing-event.schema';
import { compareRecordsNewestFirst, isCompleted, ViewingRecord } from './viewing-record';

/** Position after the last record of a page: keyset pagination, so pages neither skip nor repeat. */
export interface HistoryCursor {
  startedAt: number;
  recordId: string;
}

export interface HistoryQuery {
  limit: number;
  cursor?: HistoryCursor;
  /** Inclusive lower bound on startedAt, epoch ms. */
  from?: number;
  /** Exclusive upper bound on startedAt, epoch ms. */
  to?: number;
  titleId?: string;
  /** Only records whose last event is at or after this, epoch ms (batchGet's `since`). */
  changedSince?: number;
}

export interface HistoryPage {
  records: ViewingRecord[];
  nextCursor: HistoryCursor | null;
}

/** One page of records that are already sorted newest first. */
export function pageOfHistory(sortedRecords: readonly ViewingRecord[], query: HistoryQuery): HistoryPage {
  const page: ViewingRecord[] = [];
  let more = false;
  for (const record of sortedRecords) {
    if (query.cursor && !isAfterCursor(record, query.cursor)) continue;
    if (query.from !== undefined && record.startedAt < query.from) continue;
    if (query.to !== undefined && record.startedAt >= query.to) continue;
    if (query.titleId !== undefined && record.titleId !== query.titleId) continue;
    if (query.changedSince !== undefined && record.lastEventAt < query.changedSince) continue;
    if (page.length === query.limit) {
      more = true;
      break;
    }
    page.push(record);
  }
  const last = page[page.length - 1];
  return {
    records: page,
    nextCursor: more && last ? { startedAt: last.startedAt, recordId: last.recordId } : null,
  };
}

function isAfterCursor(record: ViewingRecord, cursor: HistoryCursor): boolean {
  return compareRecordsNewestFirst(record, { ...record, ...cursor }) > 0;
}

const CURSOR_VERSION = 1;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opaque to clients: base64url of a small versioned JSON document. */
export function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, cursor.startedAt, cursor.recordId])).toString('base64url');
}

export function decodeCursor(token: string): Validated<HistoryCursor> {
  const invalid: FieldIssue[] = [{ field: 'cursor', message: 'is not a cursor returned by this API' }];
  if (token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token)) return { ok: false, issues: invalid };
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 3 &&
      value[0] === CURSOR_VERSION &&
      Number.isSafeInteger(value[1]) &&
      typeof value[2] === 'string' &&
      UUID_PATTERN.test(value[2])
    ) {
      return { ok: true, value: { startedAt: value[1] as number, recordId: value[2] } };
    }
  } catch {
    // fall through: not JSON
  }
  return { ok: false, issues: invalid };
}

/** The latest unfinished record of each title, most recently watched first: what a device resumes. */
export function continueWatching(records: Iterable<ViewingRecord>, limit: number): ViewingRecord[] {
  return unfinishedOf(latestByTitle(records), limit);
}

/**
 * Adds records, in any order, to the record watched last of each title (`latest`): all continue-watching
 * keeps of a history, so it can be fed chunk by chunk.
 */
export function latestByTitle(
  records: Iterable<ViewingRecord>,
  latest = new Map<string, ViewingRecord>(),
): Map<string, ViewingRecord> {
  for (const record of records) {
    const seen = latest.get(record.titleId);
    if (
      seen === undefined ||
      record.lastEventAt > seen.lastEventAt ||
      (record.lastEventAt === seen.lastEventAt && record.recordId > seen.recordId)
    ) {
      latest.set(record.titleId, record);
    }
  }
  return latest;
}

/** Of the record watched last of each title, the unfinished ones, most recently watched first. */
export function unfinishedOf(latest: ReadonlyMap<string, ViewingRecord>, limit: number): ViewingRecord[] {
  return [...latest.values()]
    .filter((record) => !isCompleted(record))
    .sort((a, b) => b.lastEventAt - a.lastEventAt || (a.recordId < b.recordId ? 1 : -1))
    .slice(0, limit);
}

/** Where an export is in one profile's records: after this change (its position, apps/api export-position). */
export interface ChangeKey {
  lastEventAt: number;
  recordId: string;
}

/** Oldest change first: the order in which the export sends a profile's records. */
export function compareRecordsByChange(a: ChangeKey, b: ChangeKey): number {
  if (a.lastEventAt !== b.lastEventAt) return a.lastEventAt - b.lastEventAt;
  return a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0;
}

export interface ChangesQuery {
  /** Records whose last event is at or after this, epoch ms. */
  since: number;
  /** Only records after this one in change order (a resumed or next batch). */
  after?: ChangeKey | null;
  limit: number;
}

/** The first `limit` records changed since `since`, after `after`, oldest change first. */
export function changedRecords(records: Iterable<ViewingRecord>, query: ChangesQuery): ViewingRecord[] {
  const changed: ViewingRecord[] = [];
  for (const record of records) {
    if (record.lastEventAt < query.since) continue;
    if (query.after && compareRecordsByChange(record, query.after) <= 0) continue;
    changed.push(record);
  }
  return changed.sort(compareRecordsByChange).slice(0, query.limit);
}
