import { PlaybackEvent } from '@vh/domain';
import { AppProcess } from './support/app-process';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { ownsService, PrivateRedis, startService, stopService } from './support/infrastructure';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, freePort, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const DAY = 86_400_000;
// These tests stop the shared Kafka and Cassandra, so only where this checkout started them.
const owned = ownsService('kafka') && ownsService('cassandra');
const describeIfOwned = owned ? describe : describe.skip;
if (!owned) console.warn('fault tests skipped: Kafka and Cassandra were not started by scripts/infra.sh');

describeIfOwned('faults: dependencies stopped under load, each bounded and restored', () => {
  let environment: TestEnvironment;
  let collector: AppProcess;
  let ingest: AppProcess;
  let api: AppProcess;
  let auth: TestTokens;

  const liveRows = async (profileIds: string[]) => {
    let total = 0;
    for (const profileId of profileIds) {
      const rs = await environment.cassandra.execute(
        `SELECT count(*) AS n FROM ${environment.config.cassandra.keyspace}.live_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      );
      total += rs.first().get('n').toNumber();
    }
    return total;
  };

  beforeAll(async () => {
    environment = await createTestEnvironment('faults', {
      READ_BREAKER_FAILURES: '2',
      READ_BREAKER_OPEN_MS: '2000',
      INGEST_RETRY_BUDGET_MS: '3000',
    });
    auth = await testTokens();
    [collector, ingest, api] = await Promise.all([
      AppProcess.start('collector', environment.env),
      AppProcess.start('ingest', environment.env),
      AppProcess.start('api', environment.env),
    ]);
  });

  afterAll(async () => {
    // Whatever happened, leave the shared services running.
    startService('kafka');
    startService('cassandra');
    await Promise.all([collector, ingest, api].map((app) => app?.stop()));
    await environment?.dispose();
  });

  it('Kafka stopped while devices post: 503 with Retry-After, no 202 for an unstored event, recovery after', async () => {
    const profileId = uniqueProfileId();
    const device = await auth.device(profileId);
    const sessions = Array.from({ length: 6 }, (_, i) =>
      watchSession(profileId, `title-${i}`, Date.now() - (60 - i) * 60_000),
    );
    const post = (i: number) => postJson(`${collector.url}/v1/events`, { events: sessions[i] }, device);
    const accepted: number[] = [];
    if ((await post(0)).status === 202) accepted.push(0);

    stopService('kafka');
    try {
      const during = await Promise.all([1, 2, 3].map(post));
      for (const response of during) {
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      }
    } finally {
      startService('kafka');
    }
    for (const i of [4, 5]) {
      await eventually(async () => expect((await post(i)).status).toBe(202), 60_000, 1_000);
      accepted.push(i);
    }
    await eventually(
      async () => {
        const { body } = await getJson(`${api.url}/v1/profiles/${profileId}/history?limit=50`, auth.recommender);
        const ids = body.records.map((r: { recordId: string }) => r.recordId);
        for (const i of accepted) expect(ids).toContain(sessions[i][0].playbackSessionId);
      },
      90_000,
      1_000,
    );
  });

  it('Cassandra stopped during ingest: reads answer 503 fast, no event is lost, ingest resumes and the lag drains', async () => {
    const events: PlaybackEvent[] = syntheticHistory(20, 10, Date.now() - 20 * DAY);
    const profileIds = [...new Set(events.map((e) => e.profileId))];
    const half = Math.floor(events.length / 2);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events.slice(0, half));

    stopService('cassandra');
    try {
      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events.slice(half));
      // The read path's breaker opens: later reads are refused at once rather than piling up.
      const statuses: number[] = [];
      let fastest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 4; i++) {
        const started = Date.now();
        const response = await getJson(`${api.url}/v1/profiles/${profileIds[0]}/history`, auth.recommender);
        statuses.push(response.status);
        fastest = Math.min(fastest, Date.now() - started);
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      expect(statuses.every((s) => s === 503)).toBe(true);
      expect(fastest).toBeLessThan(500);
      await new Promise((r) => setTimeout(r, 5_000)); // ingest retries, then pauses its partitions
    } finally {
      startService('cassandra');
    }
    await eventually(async () => expect(await liveRows(profileIds)).toBe(events.length), 180_000, 1_000);
    const scraped = await (await fetch(`${ingest.url}/metrics`)).text();
    expect(Number(/^viewing_history_ingest_partition_pauses_total (\d+)$/m.exec(scraped)?.[1] ?? 0)).toBeGreaterThan(0);
    await eventually(
      async () =>
        expect((await getJson(`${api.url}/v1/profiles/${profileIds[0]}/history`, auth.recommender)).status).toBe(200),
      30_000,
      500,
    );
  });

  it('Redis stopped during compaction: the jobs resume and finish when it returns', async () => {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    const env = { ...environment.env, REDIS_URL: redis.url, COMPACTION_LOCK_MS: '3000' };
    const admin = await AppProcess.start('api', { ...env, API_PORT: String(await freePort()) });
    let compactor = await AppProcess.start('compactor', { ...env, COMPACTOR_PORT: String(await freePort()) });
    try {
      const events = syntheticHistory(4, 100, Date.now() - 30 * DAY);
      const profileIds = [...new Set(events.map((e) => e.profileId))];
      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
      await eventually(async () => expect(await liveRows(profileIds)).toBe(events.length), 60_000, 500);
      const before = await Promise.all(
        profileIds.map(
          async (p) =>
            (await getJson(`${admin.url}/v1/profiles/${p}/history?limit=200`, auth.recommender)).body.records,
        ),
      );

      await compactor.stop(); // jobs wait in Redis while it is stopped
      const jobIds: string[] = [];
      for (const profileId of profileIds)
        jobIds.push((await postJson(`${admin.url}/v1/admin/compactions`, { profileId }, auth.operator)).body.jobId);
      compactor = await AppProcess.start('compactor', { ...env, COMPACTOR_PORT: String(await freePort()) });
      await redis.stop(); // mid-flight
      await new Promise((r) => setTimeout(r, 3_000));
      const refused = await postJson(`${admin.url}/v1/admin/compactions`, { profileId: profileIds[0] }, auth.operator);
      expect(refused.status).toBe(503);
      await redis.start();

      for (const jobId of jobIds) {
        await eventually(
          async () => {
            const { body } = await getJson(`${admin.url}/v1/admin/compactions/${jobId}`, auth.operator);
            expect(body.state).toBe('completed');
          },
          120_000,
          1_000,
        );
      }
      for (const [i, profileId] of profileIds.entries()) {
        expect(
          (await getJson(`${admin.url}/v1/profiles/${profileId}/history?limit=200`, auth.recommender)).body.records,
        ).toEqual(before[i]);
        expect(await liveRows([profileId])).toBe(0);
      }
    } finally {
      await Promise.all([admin.stop(), compactor.stop()]);
      await redis.dispose();
    }
  });
});
