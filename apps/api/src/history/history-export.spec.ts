import { AppConfig } from '@vh/config';
import { changedRecords, ChangesQuery, DependencyUnavailableError, ViewingRecord } from '@vh/domain';
import { ChangedProfile, ChangedProfilesWalk, CircuitBreaker } from '@vh/storage';
import { EXPORT_BATCH_RECORDS, ExportLine, HistoryExport } from './history-export';
import { ViewingHistoryReader } from './viewing-history.reader';

const SINCE = Date.parse('2026-11-20T00:00:00Z');
const NOW = Date.parse('2026-11-26T00:00:00Z');
const config = {
  history: { exportIndexMaxDays: 30, exportTokenRanges: 4 },
  events: { maxClockSkewMs: 0 },
} as unknown as AppConfig;

const record = (recordId: string) =>
  ({
    recordId,
    startedAt: SINCE,
    lastEventAt: SINCE + 1,
    positionMs: 0,
    watchedMs: 0,
    titleDurationMs: 1,
  }) as unknown as ViewingRecord;
const timeout = () => new DependencyUnavailableError('cassandra', 'ReadTimeout: too many tombstones');

/** Profiles given in order by a token walk; `unreadable` ones always time out, as a tombstone-heavy partition does. */
function exportOver(profiles: string[], unreadable: Set<string>, breaker?: CircuitBreaker) {
  const reads: string[] = [];
  const read = async (id: string) => {
    reads.push(id);
    if (unreadable.has(id)) throw timeout();
    return [record(`${id}-r`)];
  };
  const reader = {
    readChangesForExport: (id: string) => (breaker ? breaker.execute(() => read(id)) : read(id)),
  } as unknown as ViewingHistoryReader;
  const walk = {
    async *byTokenRanges(): AsyncGenerator<ChangedProfile> {
      for (const [i, profileId] of profiles.entries()) {
        yield { profileId, position: { walk: 'token-ranges', token: String(i), profileId } };
      }
    },
  } as unknown as ChangedProfilesWalk;
  return { history: new HistoryExport(reader, walk, config), reads };
}

async function collect(history: HistoryExport): Promise<{ lines: ExportLine[]; error?: unknown }> {
  const lines: ExportLine[] = [];
  try {
    for await (const line of history.lines({ ...history.begin(SINCE - 60 * 86_400_000, undefined, NOW) })) {
      lines.push(line);
    }
  } catch (error) {
    return { lines, error };
  }
  return { lines };
}

describe('HistoryExport with an unreadable profile', () => {
  it('gives the unreadable profile an error line after a bounded number of reads and completes (invariant 4)', async () => {
    const { history, reads } = exportOver(['p1', 'bad', 'p3'], new Set(['bad']));
    const { lines, error } = await collect(history);
    expect(error).toBeUndefined();
    const failed = lines.filter((l) => l.type === 'error');
    expect(failed).toEqual([expect.objectContaining({ profileId: 'bad', error: 'profile_unavailable' })]);
    expect(failed[0]).toHaveProperty('position', expect.any(String));
    expect(lines.filter((l) => l.type === 'record').map((l) => (l as { profileId: string }).profileId)).toEqual([
      'p1',
      'p3',
    ]);
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: 2, records: 2, failures: 1 });
    expect(reads.filter((id) => id === 'bad').length).toBeGreaterThan(1);
    expect(reads.filter((id) => id === 'bad').length).toBeLessThanOrEqual(3);
  });

  it('stops as interrupted, not with an error line per profile, when consecutive profiles all fail (an outage)', async () => {
    const all = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'];
    const { history } = exportOver(all, new Set(all));
    const { lines, error } = await collect(history);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(lines.filter((l) => l.type === 'error').length).toBeLessThan(all.length);
    expect(lines.some((l) => l.type === 'end')).toBe(false);
  });

  it('gives a profile that opened the circuit its error line, waits the circuit out and completes (invariant 4)', async () => {
    // The process-wide breaker opens after the unreadable profile's two reads: the next profile is fine.
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 100 });
    const { history } = exportOver(['p1', 'bad', 'p3', 'p4'], new Set(['bad']), breaker);
    const { lines, error } = await collect(history);
    expect(error).toBeUndefined();
    expect(lines.filter((l) => l.type === 'error').map((l) => (l as { profileId: string }).profileId)).toEqual(['bad']);
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: 3, records: 3, failures: 1 });
  });

  it('waits out a circuit left open by an outage that has healed, and completes (finding 2 of chaos seed 7)', async () => {
    // The outage opened the circuit just before the export began; the cluster is back.
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 200 });
    for (let i = 0; i < 2; i++) await expect(breaker.execute(() => Promise.reject(timeout()))).rejects.toThrow();
    expect(breaker.current).toBe('open');
    const { history } = exportOver(['p1', 'p2', 'p3'], new Set(), breaker);
    const { lines, error } = await collect(history);
    expect(error).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: 3, records: 3, failures: 0 });
    expect(breaker.current).toBe('closed');
  });

  it("waits for another caller's half-open probe instead of stopping", async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 100 });
    await expect(breaker.execute(() => Promise.reject(timeout()))).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 120));
    // Another request is the probe, and a slow one: the export's reads meanwhile are rejected at once.
    const probe = breaker.execute(() => new Promise((r) => setTimeout(() => r([]), 300)));
    const { history } = exportOver(['p1', 'p2'], new Set(), breaker);
    const { lines, error } = await collect(history);
    await probe;
    expect(error).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: 2, failures: 0 });
  });

  it('still stops as interrupted when the circuit stays open (a real outage), after a bounded wait', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 50 });
    const { history, reads } = exportOver(['p1', 'p2', 'p3', 'p4'], new Set(['p1', 'p2', 'p3', 'p4']), breaker);
    const { lines, error } = await collect(history);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(lines.some((l) => l.type === 'end')).toBe(false);
    expect(reads.length).toBeLessThan(20);
  }, 30_000);
});

describe('HistoryExport of a large profile', () => {
  const RECORDS = 2 * EXPORT_BATCH_RECORDS + 7;
  const all = Array.from({ length: RECORDS }, (_, i) => ({
    ...record(`r-${String(i).padStart(6, '0')}`),
    // Changes out of id order, some at one instant, as chunks hold them.
    lastEventAt: SINCE + ((i * 7919) % 3000),
  }));

  /** A reader that answers each batch from the profile's records; the reads numbered in `failing` time out. */
  function largeExport(failing = new Set<number>()) {
    const held: number[] = [];
    let reads = 0;
    const reader = {
      readChangesForExport: async (_id: string, query: ChangesQuery) => {
        if (failing.has(++reads)) throw timeout();
        const batch = changedRecords(all, query);
        held.push(batch.length);
        return batch;
      },
    } as unknown as ViewingHistoryReader;
    const walk = {
      // One profile: a walk resumed after it has nothing left.
      async *byTokenRanges(_since: number, _ranges: number, after?: unknown): AsyncGenerator<ChangedProfile> {
        if (after === undefined)
          yield { profileId: 'big', position: { walk: 'token-ranges', token: '0', profileId: 'big' } };
      },
    } as unknown as ChangedProfilesWalk;
    return { history: new HistoryExport(reader, walk, config), held };
  }
  const ids = (lines: ExportLine[]) => lines.flatMap((l) => (l.type === 'record' ? [l.recordId] : []));
  const expected = changedRecords(all, { since: SINCE, limit: Infinity }).map((r) => r.recordId);

  it('sends every record once, oldest change first, holding one batch at a time (issue 12 §3)', async () => {
    const { history, held } = largeExport();
    const { lines, error } = await collect(history);
    expect(error).toBeUndefined();
    expect(ids(lines)).toEqual(expected);
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: 1, records: RECORDS, failures: 0 });
    expect(held.length).toBe(3);
    expect(Math.max(...held)).toBeLessThanOrEqual(EXPORT_BATCH_RECORDS + 1);
  });

  it('reads a batch again after a timeout, and completes', async () => {
    const { lines } = await collect(largeExport(new Set([2])).history);
    expect(ids(lines)).toEqual(expected);
  });

  it('stops as interrupted when a later batch keeps failing, and a resume after the last line sends the rest', async () => {
    // The second batch's read and its retry both time out.
    const { history } = largeExport(new Set([2, 3]));
    const first = await collect(history);
    expect(first.error).toBeInstanceOf(DependencyUnavailableError);
    expect(first.lines.some((l) => l.type === 'error' || l.type === 'end')).toBe(false);
    const last = first.lines.at(-1) as { position: string };
    const resumed: ExportLine[] = [];
    const { history: again } = largeExport();
    for await (const line of again.lines(again.begin(SINCE - 60 * 86_400_000, last.position, NOW))) resumed.push(line);
    expect([...ids(first.lines), ...ids(resumed)]).toEqual(expected);
    expect(resumed.at(-1)).toMatchObject({ type: 'end', profiles: 1, records: RECORDS, failures: 0 });
  });
});
