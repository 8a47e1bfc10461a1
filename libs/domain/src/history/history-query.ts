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
export function continueWatching(records: readonly ViewingRecord[], limit: number): ViewingRecord[] {
  const latestByTitle = new Map<string, ViewingRecord>();
  for (const record of records) {
    const seen = latestByTitle.get(record.titleId);
    if (
      seen === undefined ||
      record.lastEventAt > seen.lastEventAt ||
      (record.lastEventAt === seen.lastEventAt && record.recordId > seen.recordId)
    ) {
      latestByTitle.set(record.titleId, record);
    }
  }
  return [...latestByTitle.values()]
    .filter((record) => !isCompleted(record))
    .sort((a, b) => b.lastEventAt - a.lastEventAt || (a.recordId < b.recordId ? 1 : -1))
    .slice(0, limit);
}
