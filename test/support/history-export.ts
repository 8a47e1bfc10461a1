import { Client } from 'cassandra-driver';
import { foldHistory, ViewingEvent, visibleRecords } from '@vh/domain';
import { toView } from '../../apps/api/src/history/history-request';

/** One line of the NDJSON export, as a job reads it. */
export type ExportLine = { type: 'record' | 'error' | 'end'; [field: string]: any };

/**
 * Reads `GET /v1/history/export`; with `dropAfter`, the connection is cut (the request aborted) once
 * that many complete lines arrived, as a job's connection drops mid-stream.
 */
export async function readExport(
  apiUrl: string,
  query: string,
  headers: Record<string, string>,
  dropAfter = Number.POSITIVE_INFINITY,
): Promise<{ status: number; lines: ExportLine[] }> {
  const abort = new AbortController();
  const response = await fetch(`${apiUrl}/v1/history/export?${query}`, { headers, signal: abort.signal });
  if (response.status !== 200) return { status: response.status, lines: [(await response.json()) as ExportLine] };
  const lines: ExportLine[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const complete = pending.split('\n');
    pending = complete.pop()!;
    for (const line of complete) {
      lines.push(JSON.parse(line));
      if (lines.length >= dropAfter) {
        abort.abort();
        await reader.cancel().catch(() => undefined);
        return { status: 200, lines };
      }
    }
  }
  return { status: 200, lines };
}

/** What the export must hold for these events: each profile's visible records changed since `since`. */
export function expectedExport(events: ViewingEvent[], since: number): Map<string, ReturnType<typeof toView>[]> {
  const byProfile = new Map<string, ViewingEvent[]>();
  for (const event of events) byProfile.set(event.profileId, [...(byProfile.get(event.profileId) ?? []), event]);
  const expected = new Map<string, ReturnType<typeof toView>[]>();
  for (const [profileId, own] of byProfile) {
    const records = visibleRecords(foldHistory(own))
      .filter((r) => r.lastEventAt >= since)
      .map(toView);
    if (records.length > 0) expected.set(profileId, records);
  }
  return expected;
}

/** The record lines of an export by profile, in record-id order, without the line's own fields. */
export function exportedRecords(lines: ExportLine[]): Map<string, unknown[]> {
  const byProfile = new Map<string, unknown[]>();
  for (const { type, profileId, position: _position, ...record } of lines) {
    if (type !== 'record') continue;
    byProfile.set(profileId, [...(byProfile.get(profileId) ?? []), record]);
  }
  for (const records of byProfile.values()) records.sort((a: any, b: any) => (a.recordId < b.recordId ? -1 : 1));
  return byProfile;
}

export function byRecordId<T extends { recordId: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.recordId < b.recordId ? -1 : 1));
}

/** Rows of one profile in a table of the keyspace. */
export async function countRows(cassandra: Client, keyspace: string, table: string, profileId: string) {
  const result = await cassandra.execute(
    `SELECT count(*) AS n FROM ${keyspace}.${table} WHERE profile_id = ?`,
    [profileId],
    { prepare: true },
  );
  return result.first().get('n').toNumber() as number;
}
