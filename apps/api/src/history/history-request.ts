import { z } from 'zod/v4';
import { decodeCursor, HistoryQuery, InvalidInputError, isCompleted, ViewingRecord } from '@vh/domain';
import { identifierSchema, instantSchema, parseWith } from '../shared/request-parsing';

export function parseProfileId(value: unknown): string {
  return parseWith(z.object({ profileId: identifierSchema }), { profileId: value }).profileId;
}

export function parseTitleId(value: unknown): string {
  return parseWith(z.object({ titleId: identifierSchema }), { titleId: value }).titleId;
}

export function parseRecordId(value: unknown): string {
  return parseWith(
    z.object({
      recordId: z
        .string()
        .uuid()
        .transform((s) => s.toLowerCase()),
    }),
    { recordId: value },
  ).recordId;
}

/** Query string of the history read: limit, cursor, from, to, titleId. */
export function parseHistoryQuery(
  query: Record<string, unknown>,
  pages: { defaultPageSize: number; maxPageSize: number },
): HistoryQuery {
  const schema = z
    .object({
      limit: z.coerce.number().int().min(1).max(pages.maxPageSize).default(pages.defaultPageSize),
      cursor: z.string().optional(),
      from: instantSchema.optional(),
      to: instantSchema.optional(),
      titleId: identifierSchema.optional(),
    })
    .strict();
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
  return parseWith(z.object({ limit: z.coerce.number().int().min(1).max(max).default(fallback) }).strict(), query)
    .limit;
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
