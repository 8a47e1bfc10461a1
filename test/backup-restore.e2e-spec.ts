import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileKeySealer, standaloneProfileKeys } from '@vh/erasure';
import { AppProcess } from './support/app-process';
import { runCli } from './support/cli';
import { produce, produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { freePort } from './support/free-port';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';
import { openStores, Stores } from './support/stores';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Issue 15 §4: back up, write more and corrupt some, restore as of a time between; erasures stay. */
describe('backup and point-in-time restore', () => {
  let environment: TestEnvironment;
  let collector: AppProcess;
  let ingest: AppProcess;
  let api: AppProcess;
  let restoredApi: AppProcess | undefined;
  /** The test's reader through the restore and the switch (stopped in afterAll should the test fail first). */
  let reading = false;
  let auth: TestTokens;
  let stores: Stores;
  const dir = mkdtempSync(join(tmpdir(), 'vh-backup-'));
  const now = Date.now();
  const [kept, changed, erased] = [uniqueProfileId('kept'), uniqueProfileId('changed'), uniqueProfileId('erased')];
  /** Its erasure is in progress while the backup runs: key shredded, stored history not yet erased. */
  const erasing = uniqueProfileId('erasing');
  const target = () => `${environment.config.cassandra.keyspace}_restored`;

  const history = async (profileId: string, base = api.url) => {
    const response = await getJson(`${base}/v1/profiles/${profileId}/history?limit=200`, auth.recommender);
    expect(response.status).toBe(200);
    return response.body.records as { recordId: string; titleId: string }[];
  };
  const settingsOf = async (profileId: string, base = api.url) => {
    const response = await getJson(`${base}/v1/profiles/${profileId}/settings`, auth.operator);
    expect(response.status).toBe(200);
    return response.body as { recording: string; autoDelete: string; updatedAt: string | null };
  };
  const putSettings = async (profileId: string, body: Record<string, string>) => {
    const response = await fetch(`${api.url}/v1/profiles/${profileId}/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...(await auth.device(profileId)) },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(202);
    await eventually(async () => expect(await settingsOf(profileId)).toMatchObject(body), 60_000, 500);
  };
  const postSession = async (profileId: string, titleId: string, startedAt: number) => {
    const response = await postJson(
      `${collector.url}/v1/events`,
      { events: watchSession(profileId, titleId, startedAt) },
      await auth.device(profileId),
    );
    expect(response.status).toBe(202);
  };

  beforeAll(async () => {
    environment = await createTestEnvironment('backup', {
      EVENT_MAX_AGE_MS: String(HOUR),
      COMPACTION_MIN_AGE_MS: String(2 * HOUR),
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
    });
    auth = await testTokens();
    [collector, ingest, api] = await Promise.all([
      AppProcess.start('collector', environment.env),
      AppProcess.start('ingest', environment.env),
      AppProcess.start('api', environment.env),
    ]);
    stores = openStores(environment.config);
    // Each profile: three sessions of three days ago (compacted: compressed history) and one of the last hour.
    const keys = standaloneProfileKeys(environment.config, 'e2e');
    try {
      for (const profileId of [kept, changed, erased, erasing]) {
        const old = syntheticHistory(1, 3, now - 3 * DAY).map((e) => ({
          ...e,
          profileId,
          titleId: `old-${profileId}`,
        }));
        const values = await new ProfileKeySealer(keys.keys, environment.config).seal(old);
        await produce(
          environment.kafka,
          environment.config.kafka.eventTopic,
          old.map((_, i) => ({ key: profileId, value: values[i] })),
        );
        await postSession(profileId, `recent-${profileId}`, now - 55 * 60_000);
      }
    } finally {
      await keys.close();
    }
    // Settings of days ago: compacted with the history (the compressed version's member controls).
    const daysAgo = now - 3 * DAY + 3 * HOUR;
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, [
      {
        type: 'settings-changed',
        eventId: randomUUID(),
        profileId: changed,
        occurredAt: daysAgo,
        acceptedAt: daysAgo,
        autoDelete: '18m',
      },
    ]);
    await eventually(async () => expect(await settingsOf(changed)).toMatchObject({ autoDelete: '18m' }), 60_000, 500);
    for (const profileId of [kept, changed, erased, erasing]) {
      await eventually(async () => expect(await history(profileId)).toHaveLength(4), 120_000, 500);
      await stores.compactor().compact(profileId);
    }
    expect((await stores.compressed.readVersion(changed))?.memberControls).not.toBeNull();
  }, 300_000);

  afterAll(async () => {
    reading = false;
    await Promise.all([collector?.stop(), ingest?.stop(), api?.stop(), restoredApi?.stop()]);
    await stores?.close();
    await environment?.cassandra.execute(`DROP KEYSPACE IF EXISTS ${target()}`).catch(() => undefined);
    await environment?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restores the history as of a time after the backup: later writes, a wrongful clear and an erasure handled', async () => {
    // An erasure half done while the backup runs (the API's first step: the key shredded, the ledger written;
    // its stored history and mark still to come).
    const keys = standaloneProfileKeys(environment.config, 'e2e-erasing');
    try {
      await keys.keys.erase(erasing);
    } finally {
      await keys.close();
    }
    const backedUp = await runCli(['backup', '--to', dir], environment.env, 180_000);
    expect(backedUp.stderr).not.toMatch(/Error/);
    expect(backedUp.status).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    // The profile being erased is left out: its copy would hold what the erasure is removing.
    expect(manifest).toMatchObject({ profiles: 3, compressedProfiles: 3, profilesErasing: 1 });
    expect(readFileSync(join(dir, 'profiles.ndjson'), 'utf8')).not.toContain(erasing);
    // The backup is sealed per profile: no title readable in it.
    expect(readFileSync(join(dir, 'profiles.ndjson'), 'utf8')).not.toMatch(/old-|recent-/);

    // After the backup: more history, and a removal (a deletion must come back too).
    await postSession(kept, 'after-backup', now - 30 * 60_000);
    const removed = (await history(changed)).find((r) => r.titleId === `recent-${changed}`)!;
    const removal = await fetch(`${api.url}/v1/profiles/${changed}/history/${removed.recordId}`, {
      method: 'DELETE',
      headers: await auth.device(changed),
    });
    expect(removal.status).toBe(202);
    await eventually(async () => expect(await history(kept)).toHaveLength(5), 60_000, 500);
    await eventually(async () => expect(await history(changed)).toHaveLength(3), 60_000, 500);
    // Settings changed after the backup: replayed from the log.
    await putSettings(kept, { recording: 'paused' });
    const expected = { kept: await history(kept), changed: await history(changed) };
    const expectedSettings = { kept: await settingsOf(kept), changed: await settingsOf(changed) };
    expect(expectedSettings.changed).toMatchObject({ recording: 'on', autoDelete: '18m' });
    expect(expectedSettings.kept).toMatchObject({ recording: 'paused', autoDelete: 'never' });
    await sleep(1_000);
    const until = new Date().toISOString();
    await sleep(1_000);

    // The bad deploy: a wrongful clear and a bogus session. Then a member erases a profile (never undone).
    const clear = await fetch(`${api.url}/v1/profiles/${kept}/history`, {
      method: 'DELETE',
      headers: await auth.device(kept),
    });
    expect(clear.status).toBe(202);
    await postSession(changed, 'bogus-title', now - 45 * 60_000);
    const erasure = await fetch(`${api.url}/v1/profiles/${erased}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', ...(await auth.device(erased)) },
      body: JSON.stringify({ confirm: erased }),
    });
    expect(erasure.status).toBe(202);
    await eventually(async () => expect(await history(kept)).toEqual([]), 60_000, 500);
    await eventually(async () => expect(await history(changed)).toHaveLength(4), 60_000, 500);
    await putSettings(changed, { recording: 'paused', autoDelete: '3m' });

    // An --until before the backup completed cannot be served by this backup.
    const tooEarly = await runCli(
      ['restore', '--from', dir, '--until', new Date(now - HOUR).toISOString(), '--keyspace', target()],
      environment.env,
    );
    expect(tooEarly.status).not.toBe(0);
    expect(tooEarly.stderr).toMatch(/--until: is before this backup completed/);

    // Keys the restore cannot find are not erasures: a wrong (here empty) keys keyspace refuses the restore
    // before anything is written, instead of leaving every profile out as "erased".
    const wrongKeys = `${environment.config.cassandra.keyspace}_wrong_keys`;
    try {
      expect((await runCli(['migrate'], { ...environment.env, PROFILE_KEYS_KEYSPACE: wrongKeys })).status).toBe(0);
      const refused = await runCli(['restore', '--from', dir, '--until', until, '--keyspace', target()], {
        ...environment.env,
        PROFILE_KEYS_KEYSPACE: wrongKeys,
      });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/is PROFILE_KEYS_KEYSPACE right\? Nothing was restored/);
      const rows = await environment.cassandra.execute(`SELECT profile_id FROM ${target()}.live_history LIMIT 1`);
      expect(rows.rowLength).toBe(0);
    } finally {
      await environment.cassandra.execute(`DROP KEYSPACE IF EXISTS ${wrongKeys}`);
    }

    // Reads go on through the restore and the switch (review of session 13): the live keyspace and its API are
    // untouched by the restore (every answer complete, the current history), then the restored API serves.
    let readFrom = api.url;
    reading = true;
    const answers: { from: string; records: number }[] = [];
    const failures: string[] = [];
    const reader = (async () => {
      while (reading) {
        const from = readFrom;
        await history(changed, from)
          .then((records) => answers.push({ from, records: records.length }))
          .catch((error: Error) => failures.push(`${from}: ${error.message}`));
        await sleep(200);
      }
    })();
    const restored = await runCli(
      ['restore', '--from', dir, '--until', until, '--keyspace', target(), '--ingest-group', `${target()}-ingest`],
      environment.env,
      300_000,
    );
    expect(restored.stderr).not.toMatch(/Error/);
    expect(restored.status).toBe(0);
    const report = JSON.parse(restored.stdout);
    expect(report).toMatchObject({ profilesRestored: 2, profilesErased: 1, compressedVersionsVerified: 2 });
    expect(report.replay.skipped).toBeGreaterThan(0);

    // The switch: an API on the restored keyspace (in production, API processes restarted one by one).
    const port = String(await freePort());
    restoredApi = await AppProcess.start('api', { ...environment.env, CASSANDRA_KEYSPACE: target(), API_PORT: port });
    readFrom = restoredApi.url;
    await eventually(async () => expect(answers.some((a) => a.from === restoredApi!.url)).toBe(true), 10_000, 100);
    reading = false;
    await reader;
    expect(failures).toEqual([]);
    expect(answers.filter((a) => a.from === api.url).length).toBeGreaterThan(3);
    expect([...new Set(answers.map((a) => `${a.from === api.url ? 'live' : 'restored'}:${a.records}`))]).toEqual([
      'live:4',
      'restored:3',
    ]);
    const sortById = (records: { recordId: string }[]) =>
      [...records].sort((a, b) => a.recordId.localeCompare(b.recordId));
    expect(sortById(await history(kept, restoredApi.url))).toEqual(sortById(expected.kept));
    expect(sortById(await history(changed, restoredApi.url))).toEqual(sortById(expected.changed));
    expect(await history(erased, restoredApi.url)).toEqual([]);
    expect(await history(erasing, restoredApi.url)).toEqual([]);
    // Member settings come back exactly as they were at --until (the later change is not restored).
    expect(await settingsOf(kept, restoredApi.url)).toEqual(expectedSettings.kept);
    expect(await settingsOf(changed, restoredApi.url)).toEqual(expectedSettings.changed);
    const rows = await environment.cassandra.execute(
      `SELECT count(*) AS n FROM ${target()}.live_history WHERE profile_id = ?`,
      [erased],
      { prepare: true },
    );
    expect(rows.first().get('n').toNumber()).toBe(0);
  });
});
