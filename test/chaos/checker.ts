import { AppStack } from '../support/app-stack';
import { RecordView, ReferenceModel } from './reference-model';

const PAGE = 200;
const BATCH = 100;
/** Differences kept in the report per kind; the counts are complete. */
const KEEP = 20;

export interface Difference {
  view: 'history' | 'continue-watching' | 'batch-get' | 'export' | 'api-agreement' | 'settings';
  profileId: string;
  source: string;
  kind: 'missing' | 'extra' | 'differs' | 'order' | 'error';
  recordId?: string;
  /** When the record started (from the model, else the service): tells compacted days from recent ones. */
  startedAt?: string;
  /** For a record missing or extra in the history: what the model knows of it (its events, the controls). */
  explanation?: unknown[];
  /** The first field that differs, with both values. */
  field?: string;
  expected?: unknown;
  actual?: unknown;
}

export interface CheckResult {
  profilesChecked: number;
  recordsExpected: number;
  /** Records the model shows and the service does not. */
  recordsMissing: number;
  /** Records the service shows and the model hides or never had. */
  recordsExtra: number;
  recordsDiffering: number;
  /** Differing records where the service counted more watched time: an event applied twice. */
  watchedMoreThanModel: number;
  /** Differing records where it counted less: an event lost or skipped. */
  watchedLessThanModel: number;
  /** Sessions an erasure took whole, by the model: what the erasures of the run put to the test. */
  erasedRecords: number;
  /** Extra records of sessions an erasure took whole: history the member had erased, readable again. */
  erasedRecordsReadable: number;
  /** Profiles whose settings (GET /settings) differ from the model's latest change. */
  settingsDifferences: number;
  continueWatchingDifferences: number;
  batchGetDifferences: number;
  exportDifferences: number;
  exportIncomplete: boolean;
  apiDisagreements: number;
  readErrors: number;
  /** History differences in days compaction had rolled up (late events) and in recent days. */
  historyDifferencesInCompactedDays: number;
  historyDifferencesRecent: number;
  differences: Difference[];
}

/** Compares every profile's history, continue-watching, batchGet and export with the model. */
export async function checkAgainstModel(
  stack: AppStack,
  model: ReferenceModel,
  profileIds: string[],
  headers: Record<string, string>,
  /** Records that started before this instant lie in compacted days. */
  compactedBefore: number,
  /** For the settings of any profile (`profiles:admin`): the recommender may read history only. */
  operatorHeaders: Record<string, string> = headers,
): Promise<CheckResult> {
  const result: CheckResult = {
    profilesChecked: profileIds.length,
    recordsExpected: 0,
    recordsMissing: 0,
    recordsExtra: 0,
    recordsDiffering: 0,
    watchedMoreThanModel: 0,
    watchedLessThanModel: 0,
    erasedRecords: 0,
    erasedRecordsReadable: 0,
    settingsDifferences: 0,
    continueWatchingDifferences: 0,
    batchGetDifferences: 0,
    exportDifferences: 0,
    exportIncomplete: false,
    apiDisagreements: 0,
    readErrors: 0,
    historyDifferencesInCompactedDays: 0,
    historyDifferencesRecent: 0,
    differences: [],
  };
  const note = (d: Difference) => {
    if (result.differences.filter((x) => x.view === d.view).length < KEEP) result.differences.push(d);
  };
  const apis = stack.of('api');
  const [first, ...others] = apis;

  for (const profileId of profileIds) {
    // Auto-delete is judged at the reader's now; the model's now is taken just before the service's.
    const expected = model.history(profileId, Date.now());
    const erased = model.erasedRecordIds(profileId);
    result.erasedRecords += erased.size;
    result.recordsExpected += expected.length;
    const fromFirst = await fullHistory(first.url, profileId, headers);
    if (!fromFirst.ok) {
      result.readErrors++;
      note({ view: 'history', profileId, source: first.id, kind: 'error', actual: fromFirst.error });
      continue;
    }
    for (const d of compareLists(expected, fromFirst.records)) {
      if (d.startedAt && Date.parse(d.startedAt) < compactedBefore) result.historyDifferencesInCompactedDays++;
      else result.historyDifferencesRecent++;
      if (d.kind === 'missing') result.recordsMissing++;
      else if (d.kind === 'extra') {
        result.recordsExtra++;
        if (erased.has(d.recordId!)) result.erasedRecordsReadable++;
      } else if (d.kind === 'differs') {
        result.recordsDiffering++;
        const e = expected.find((r) => r.recordId === d.recordId)!;
        const a = fromFirst.records.find((r) => r.recordId === d.recordId)!;
        if (a.watchedMs > e.watchedMs) result.watchedMoreThanModel++;
        if (a.watchedMs < e.watchedMs) result.watchedLessThanModel++;
      } else result.recordsDiffering++;
      const explain = d.kind === 'missing' || d.kind === 'extra' ? model.explain(profileId, d.recordId!) : undefined;
      note({ view: 'history', profileId, source: first.id, ...d, ...(explain ? { explanation: explain } : {}) });
    }
    for (const other of others) {
      const answer = await fullHistory(other.url, profileId, headers);
      const differences = answer.ok
        ? compareLists(fromFirst.records, answer.records)
        : [{ kind: 'error' as const, actual: answer.error }];
      if (differences.length) result.apiDisagreements++;
      if (differences[0])
        note({ view: 'api-agreement', profileId, source: `${first.id} vs ${other.id}`, ...differences[0] });
    }
    const cw = await getJson(`${first.url}/v1/profiles/${profileId}/continue-watching?limit=${PAGE}`, headers);
    const cwDifferences = cw.ok
      ? compareLists(model.continueWatching(profileId, PAGE, Date.now()), cw.body.records)
      : [{ kind: 'error' as const, actual: cw.error }];
    if (cwDifferences.length) result.continueWatchingDifferences++;
    if (cwDifferences[0]) note({ view: 'continue-watching', profileId, source: first.id, ...cwDifferences[0] });
    const settings = await getJson(`${first.url}/v1/profiles/${profileId}/settings`, operatorHeaders);
    const modelSettings = model.settings(profileId);
    const field = settings.ok
      ? (['recording', 'autoDelete'] as const).find((k) => settings.body[k] !== modelSettings[k])
      : '(answer)';
    if (field) {
      result.settingsDifferences++;
      note({
        view: 'settings',
        profileId,
        source: first.id,
        kind: settings.ok ? 'differs' : 'error',
        field,
        expected: modelSettings,
        actual: settings.ok ? settings.body : settings.error,
      });
    }
  }

  const batchApi = apis[apis.length - 1];
  for (let i = 0; i < profileIds.length; i += BATCH) {
    const ids = profileIds.slice(i, i + BATCH);
    const answer = await postJson(
      `${batchApi.url}/v1/history:batchGet`,
      { profiles: ids.map((profileId) => ({ profileId })), limit: PAGE },
      headers,
    );
    for (const profileId of ids) {
      const entry = answer.ok ? answer.body.results.find((r: any) => r.profileId === profileId) : null;
      const differences = entry
        ? compareLists(model.history(profileId, Date.now()), entry.records)
        : [{ kind: 'error' as const, actual: answer.ok ? 'no entry' : answer.error }];
      if (differences.length) result.batchGetDifferences++;
      if (differences[0]) note({ view: 'batch-get', profileId, source: batchApi.id, ...differences[0] });
    }
  }

  const exported = await exportAll(first.url, headers);
  result.exportIncomplete = !exported.complete;
  if (!exported.complete)
    note({ view: 'export', profileId: '*', source: first.id, kind: 'error', actual: exported.error });
  for (const profileId of profileIds) {
    const differences = compareLists(model.history(profileId, Date.now()), exported.byProfile.get(profileId) ?? []);
    if (differences.length) result.exportDifferences++;
    if (differences[0]) note({ view: 'export', profileId, source: first.id, ...differences[0] });
  }
  return result;
}

/** Differences between what was expected and what was answered, by recordId, then the order. */
export function compareLists(
  expected: readonly RecordView[],
  actual: readonly RecordView[],
): Omit<Difference, 'view' | 'profileId' | 'source'>[] {
  const out: Omit<Difference, 'view' | 'profileId' | 'source'>[] = [];
  const actualById = new Map(actual.map((r) => [r.recordId, r]));
  const expectedIds = new Set(expected.map((r) => r.recordId));
  for (const e of expected) {
    const a = actualById.get(e.recordId);
    if (!a) {
      out.push({ kind: 'missing', recordId: e.recordId, startedAt: e.startedAt, expected: e });
      continue;
    }
    const field = (Object.keys(e) as (keyof RecordView)[]).find((k) => e[k] !== a[k]);
    if (field)
      out.push({
        kind: 'differs',
        recordId: e.recordId,
        startedAt: e.startedAt,
        field,
        expected: e[field],
        actual: a[field],
      });
  }
  for (const a of actual)
    if (!expectedIds.has(a.recordId)) out.push({ kind: 'extra', recordId: a.recordId, actual: a });
  if (out.length === 0) {
    const at = expected.findIndex((e, i) => actual[i]?.recordId !== e.recordId);
    if (at >= 0)
      out.push({
        kind: 'order',
        recordId: expected[at].recordId,
        field: `position ${at}`,
        actual: actual[at]?.recordId,
      });
  }
  return out;
}

async function fullHistory(
  url: string,
  profileId: string,
  headers: Record<string, string>,
): Promise<{ ok: true; records: RecordView[] } | { ok: false; error: string }> {
  const records: RecordView[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await getJson(`${url}/v1/profiles/${profileId}/history?${query}`, headers);
    if (!page.ok) return page;
    records.push(...page.body.records);
    cursor = page.body.nextCursor;
  } while (cursor);
  return { ok: true, records };
}

async function exportAll(
  url: string,
  headers: Record<string, string>,
): Promise<{ complete: boolean; error?: string; byProfile: Map<string, RecordView[]> }> {
  const byProfile = new Map<string, RecordView[]>();
  try {
    const response = await fetch(`${url}/v1/history/export?since=2000-01-01T00:00:00Z`, {
      headers,
      signal: AbortSignal.timeout(300_000),
    });
    const lines = (await response.text()).split('\n').filter(Boolean);
    let end: any = null;
    let records = 0;
    for (const line of lines) {
      const item = JSON.parse(line);
      if (item.type === 'record') {
        const { type: _type, profileId, position: _position, ...record } = item;
        byProfile.set(profileId, [...(byProfile.get(profileId) ?? []), record]);
        records++;
      } else if (item.type === 'end') end = item;
      else return { complete: false, error: line, byProfile };
    }
    if (!end) return { complete: false, error: `status ${response.status}, no end line`, byProfile };
    // The export orders a profile's records by change (oldest first, so a resume cuts cleanly); the model
    // lists history newest first. The check is on the records, so put them in history order.
    for (const list of byProfile.values()) list.sort(newestFirst);
    if (end.records !== records)
      return { complete: false, error: `end line counts ${end.records}, got ${records}`, byProfile };
    return { complete: true, byProfile };
  } catch (error) {
    return { complete: false, error: (error as Error).message, byProfile };
  }
}

function newestFirst(a: RecordView, b: RecordView): number {
  if (a.startedAt !== b.startedAt) return a.startedAt < b.startedAt ? 1 : -1;
  return a.recordId < b.recordId ? 1 : a.recordId > b.recordId ? -1 : 0;
}

type Answer = { ok: true; body: any } | { ok: false; error: string };

async function getJson(url: string, headers: Record<string, string>): Promise<Answer> {
  return call(url, { headers });
}

async function postJson(url: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return call(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** A read after the faults healed: retried a few times (a process may still be warming up), then an error. */
async function call(url: string, init: RequestInit): Promise<Answer> {
  let error = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
      const text = await response.text();
      if (response.ok) return { ok: true, body: JSON.parse(text) };
      error = `${response.status} ${text.slice(0, 200)}`;
      if (response.status < 500) break;
    } catch (e) {
      error = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
  return { ok: false, error };
}
