import { randomUUID } from 'node:crypto';
import { ViewingEvent } from '@vh/domain';
import { AppStack, StackMember } from './support/app-stack';
import { runCli } from './support/cli';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { countRows, expectedExport, exportedRecords, readExport } from './support/history-export';
import { openStores, Stores } from './support/stores';
import { getJson, postJson } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Issue 12 §2 (invariant 4): a corrupt or missing chunk fails its profile only, and repair rebuilds it from the log. */
describe('corrupt history stays with its profile, and is repaired from the event log', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let api: StackMember;
  let compactor: StackMember;
  let auth: TestTokens;
  let stores: Stores;
  const now = Date.now();
  const since = now - 4 * DAY;
  let events: ViewingEvent[] = [];
  let profiles: string[] = [];
  /** Altered chunk bytes; a deleted chunk row; two healthy neighbours. */
  let [altered, missing, healthy]: string[] = [];
  const before = new Map<string, unknown>();

  const keyspace = () => environment.config.cassandra.keyspace;
  const history = async (profileId: string) => {
    const records: unknown[] = [];
    let cursor: string | null = null;
    do {
      const { status, body } = await getJson(
        `${api.url}/v1/profiles/${profileId}/history?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
        auth.recommender,
      );
      if (status !== 200) return { status, body };
      records.push(...body.records);
      cursor = body.nextCursor;
    } while (cursor);
    const resume = await getJson(`${api.url}/v1/profiles/${profileId}/continue-watching?limit=200`, auth.recommender);
    return { status: 200, body: { records, resume: resume.body.records } };
  };
  const currentChunkSet = async (profileId: string) =>
    (
      await environment.cassandra.execute(
        `SELECT chunk_set, chunk_count, version FROM ${keyspace()}.compressed_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).first();
  const scrape = async (app: StackMember, metric: RegExp) => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return Number(text.match(metric)?.[1] ?? 0);
  };

  beforeAll(async () => {
    environment = await createTestEnvironment('corrupt', {
      EVENT_MAX_AGE_MS: String(HOUR),
      COMPACTION_MIN_AGE_MS: String(2 * HOUR),
      COMPACTION_CHUNK_MAX_BYTES: '1024',
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
      COMPACTION_LOCK_MS: '2000',
    });
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { ingest: 1, api: 1, compactor: 1 });
    [api, compactor] = [stack.first('api'), stack.first('compactor')];
    stores = openStores(environment.config, 'e2e-compactor');

    const old = syntheticHistory(4, 90, now - 3 * DAY);
    profiles = [...new Set(old.map((e) => e.profileId))];
    [altered, missing, healthy] = profiles;
    const recent = profiles.flatMap((profileId) =>
      syntheticHistory(1, 2, now - 40 * 60_000).map((e) => ({ ...e, profileId })),
    );
    // Deletions, old (rolled up) and recent (live): repair must honour both.
    const removals: ViewingEvent[] = [altered, missing].flatMap((profileId) => [
      {
        type: 'record-removed',
        eventId: randomUUID(),
        profileId,
        recordId: old.find((e) => e.profileId === profileId)!.playbackSessionId,
        occurredAt: now - 2 * DAY,
      },
      {
        type: 'record-removed',
        eventId: randomUUID(),
        profileId,
        recordId: recent.find((e) => e.profileId === profileId)!.playbackSessionId,
        occurredAt: now - 10 * 60_000,
      },
    ]);
    const clear: ViewingEvent = {
      type: 'history-cleared',
      eventId: randomUUID(),
      profileId: missing,
      occurredAt: now - 3 * DAY + 5 * HOUR,
    };
    // Accepted when they happened: without acceptedAt the service takes the log's timestamp (now, for all of
    // them), and the clear, judged on the service clock (invariant 6), would hide every session it follows.
    events = [...old, ...recent, ...removals, clear].map((e) => ({ ...e, acceptedAt: e.occurredAt }));
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    for (const profileId of profiles) {
      const expected = events.filter((e) => e.profileId === profileId).length;
      await eventually(
        async () =>
          expect(await countRows(environment.cassandra, keyspace(), 'live_history', profileId)).toBe(expected),
        120_000,
        500,
      );
    }
    // Read before compaction: nothing of the compressed versions to come is cached by the API.
    for (const profileId of profiles) before.set(profileId, (await history(profileId)).body);
    for (const profileId of profiles) await stores.compactor().compact(profileId);

    // Flip a byte of one chunk of one profile; remove a chunk row of another.
    const alteredSet = await currentChunkSet(altered);
    expect(alteredSet.get('chunk_count')).toBeGreaterThan(2);
    const chunk = (
      await environment.cassandra.execute(
        `SELECT data FROM ${keyspace()}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index = 1`,
        [altered, alteredSet.get('chunk_set')],
        { prepare: true },
      )
    ).first();
    const data = Buffer.from(chunk.get('data'));
    data[data.length >> 1] ^= 0xff;
    await environment.cassandra.execute(
      `UPDATE ${keyspace()}.compressed_history_chunks SET data = ? WHERE profile_id = ? AND chunk_set = ? AND chunk_index = 1`,
      [data, altered, alteredSet.get('chunk_set')],
      { prepare: true },
    );
    await environment.cassandra.execute(
      `DELETE FROM ${keyspace()}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index = 0`,
      [missing, (await currentChunkSet(missing)).get('chunk_set')],
      { prepare: true },
    );
  });

  afterAll(async () => {
    await stack?.stop();
    await stores?.close();
    await environment?.dispose();
  });

  it('fails only the corrupt profiles: 500 corrupt_history, a partial batchGet, error lines in the export', async () => {
    const corruptBefore = await scrape(api, /^viewing_history_corrupt_chunks_total (\d+)$/m);
    for (const profileId of [altered, missing]) {
      const { status, body } = await history(profileId);
      expect([profileId, status, body.error]).toEqual([profileId, 500, 'corrupt_history']);
    }
    // The missing chunk is counted as corrupt too.
    expect(await scrape(api, /^viewing_history_corrupt_chunks_total (\d+)$/m)).toBeGreaterThanOrEqual(
      corruptBefore + 2,
    );
    expect(await history(healthy)).toEqual({ status: 200, body: before.get(healthy) });

    const batch = await postJson(
      `${api.url}/v1/history:batchGet`,
      { profiles: [{ profileId: healthy }, { profileId: altered }, { profileId: missing }] },
      auth.recommender,
    );
    expect(batch.status).toBe(200);
    expect(batch.body.results[0]).toEqual({
      profileId: healthy,
      records: (before.get(healthy) as { records: unknown[] }).records,
      truncated: false,
    });
    for (const [i, profileId] of [altered, missing].entries()) {
      expect(batch.body.results[i + 1]).toMatchObject({ profileId, error: 'corrupt_history' });
      expect(batch.body.results[i + 1].records).toBeUndefined();
    }

    const { status, lines } = await readExport(api.url, `since=${new Date(since).toISOString()}`, auth.recommender);
    expect(status).toBe(200);
    const errors = lines.filter((l) => l.type === 'error');
    expect(errors.map((l) => l.profileId).sort()).toEqual([altered, missing].sort());
    for (const line of errors) expect(line).toMatchObject({ error: 'corrupt_history', position: expect.any(String) });
    const expected = expectedExport(events, since);
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: expected.size - 2, failures: 2 });
    expect(exportedRecords(lines).get(healthy)).toHaveLength(expected.get(healthy)!.length);
  });

  it('fails the compaction of a corrupt profile at once, says why, and leaves its live rows', async () => {
    for (const profileId of [altered, missing]) {
      const liveRows = await countRows(environment.cassandra, keyspace(), 'live_history', profileId);
      const started = await postJson(`${api.url}/v1/admin/compactions`, { profileId }, auth.operator);
      expect(started.status).toBe(202);
      const job = await eventually(
        async () => {
          const { body } = await getJson(`${api.url}/v1/admin/compactions/${started.body.jobId}`, auth.operator);
          expect(body.state).toBe('failed');
          return body;
        },
        60_000,
        300,
      );
      expect(job).toMatchObject({ attemptsMade: 1, error: 'corrupt_history' });
      expect(await countRows(environment.cassandra, keyspace(), 'live_history', profileId)).toBe(liveRows);
    }
    expect(await scrape(compactor, /^viewing_history_compaction_jobs_total\{outcome="corrupt_history"\} (\d+)$/m)).toBe(
      2,
    );
  });

  it('repairs each profile from the event log: the history equals the history before the corruption', async () => {
    for (const profileId of [altered, missing]) {
      const versionBefore = (await currentChunkSet(profileId)).get('version');
      const cli = await runCli(['repair', '--profile', profileId], environment.env);
      expect([cli.status, cli.stderr]).toEqual([0, expect.any(String)]);
      const report = JSON.parse(cli.stdout);
      expect(report).toMatchObject({
        profileId,
        status: 'repaired',
        events: events.filter((e) => e.profileId === profileId).length,
        fromVersion: versionBefore,
        toVersion: versionBefore + 1,
      });
      expect(await history(profileId)).toEqual({ status: 200, body: before.get(profileId) });
    }
    const { lines } = await readExport(api.url, `since=${new Date(since).toISOString()}`, auth.recommender);
    const expected = expectedExport(events, since);
    expect(lines.at(-1)).toMatchObject({ type: 'end', profiles: expected.size, failures: 0 });
    // The repaired profiles compact again like any other.
    const started = await postJson(`${api.url}/v1/admin/compactions`, { profileId: altered }, auth.operator);
    await eventually(
      async () => {
        const { body } = await getJson(`${api.url}/v1/admin/compactions/${started.body.jobId}`, auth.operator);
        expect(body.state).toBe('completed');
      },
      60_000,
      300,
    );
    expect(await history(altered)).toEqual({ status: 200, body: before.get(altered) });
  });
});
