import { z } from 'zod/v4';
import { decodeCursor, HistoryQuery, InvalidInputError, isCompleted, isIdentifier, ViewingRecord } from '@vh/domain';
import { identifierSchema, instantSchema, parseWith } from '../shared/request-parsing';

// Schemas are built once, not per request: building a zod 4 object schema (and its compiled parser on
// first use) cost about 0.3-1 ms of CPU per read, most of the read API's CPU per request (issue 14).
const profileIdSchema = z.object({ profileId: identifierSchema });
const recordIdSchema = z.object({
  recordId: z
    .string()
    .uuid()
    .transform((s) => s.toLowerCase()),
});

/**
 * Every read parses its profile id and query: a valid one is taken without the schema (zod was 2-3% of the
 * read API's CPU in its profile, bench/ANALYSIS.md session 13), anything else goes through it for the same value
 * or the same 400 (property test).
 */
export function parseProfileId(value: unknown): string {
  return isIdentifier(value) ? value : parseProfileIdBySchema(value);
}

export function parseProfileIdBySchema(value: unknown): string {
  return parseWith(profileIdSchema, { profileId: value }).profileId;
}

export function parseTitleId(value: unknown): string {
  return parseWith(z.object({ titleId: identifierSchema }), { titleId: value }).titleId;
}

export function parseRecordId(value: unknown): string {
  return parseWith(recordIdSchema, { recordId: value }).recordId;
}

/** One schema per page-size setting (the config is fixed for a process: in practice one entry). */
function memoisedBy<K, V>(build: (key: K) => V): (key: K, id: string) => V {
  const built = new Map<string, V>();
  return (key, id) => {
    let value = built.get(id);
    if (value === undefined) built.set(id, (value = build(key)));
    return value;
  };
}

const limitSchema = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const historyQuerySchema = memoisedBy((pages: { defaultPageSize: number; maxPageSize: number }) =>
  z
    .object({
      limit: limitSchema(pages.maxPageSize, pages.defaultPageSize),
      cursor: z.string().optional(),
      from: instantSchema.optional(),
      to: instantSchema.optional(),
      titleId: identifierSchema.optional(),
    })
    .strict(),
);
const limitOnlySchema = memoisedBy(({ max, fallback }: { max: number; fallback: number }) =>
  z.object({ limit: limitSchema(max, fallback) }).strict(),
);

/** A page size as a caller writes it: digits, no sign, no leading zero (anything else goes to the schema). */
const PAGE_SIZE = /^[1-9][0-9]{0,5}$/;

/** Query string of the history read: limit, cursor, from, to, titleId. The first page of a read takes no schema. */
export function parseHistoryQuery(
  query: Record<string, unknown>,
  pages: { defaultPageSize: number; maxPageSize: number },
): HistoryQuery {
  let keys = 0;
  for (const key in query) if (++keys > 1 || key !== 'limit') return parseHistoryQueryBySchema(query, pages);
  if (keys === 0) return { limit: pages.defaultPageSize };
  const limit = query.limit;
  if (typeof limit !== 'string' || !PAGE_SIZE.test(limit) || Number(limit) > pages.maxPageSize)
    return parseHistoryQueryBySchema(query, pages);
  return { limit: Number(limit) };
}

export function parseHistoryQueryBySchema(
  query: Record<string, unknown>,
  pages: { defaultPageSize: number; maxPageSize: number },
): HistoryQuery {
  const schema = historyQuerySchema(pages, `${pages.defaultPageSize}/${pages.maxPageSize}`);
  const parsed = parseWith(schema, query);
  if (parsed.from !== undefined && parsed.to !== undefined && parsed.from >= parsed.to) {
    throw new InvalidInputError([{ field: 'to', message: 'must be after from' }]);
  }
  const { cursor: token, ...rest } = parsed;
  if (token === undefined) return rest;
  const cursor = decodeCursor(token);
  if (!cursor.ok) throw new InvalidInputError(cursor.issues);
  return { ...rest, cursor: cursor.value };
}

export function parseLimit(query: Record<string, unknown>, max: number, fallback: number): number {
  return parseWith(limitOnlySchema({ max, fallback }, `${fallback}/${max}`), query).limit;
}

/** A record as the API shows it. */
export interface ViewingRecordView {
  recordId: string;
  titleId: string;
  deviceId: string;
  startedAt: string;
  lastEventAt: string;
  positionMs: number;
  watchedMs: number;
  titleDurationMs: number | null;
  state: ViewingRecord['state'];
  completed: boolean;
}

export function toView(record: ViewingRecord): ViewingRecordView {
  return {
    recordId: record.recordId,
    titleId: record.titleId,
    deviceId: record.deviceId,
    startedAt: new Date(record.startedAt).toISOString(),
    lastEventAt: new Date(record.lastEventAt).toISOString(),
    positionMs: record.positionMs,
    watchedMs: record.watchedMs,
    titleDurationMs: record.titleDurationMs,
    state: record.state,
    completed: isCompleted(record),
  };
}
