import { ConfigResourceTypes, ConfigSource } from 'kafkajs';
import { migrateSchema } from '@vh/storage';
import { AppProcess } from './support/app-process';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { PrivateCassandra } from './support/infrastructure';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { testTokens } from './support/tokens';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Invariant 2 against a storage crash: a Cassandra node of this suite's own is killed with SIGKILL while
 * ingest writes, and ingest runs before its keyspace exists. No acknowledged event may go missing, and a
 * failure of the cluster is never a reason to dead-letter one.
 */
describe('storage crash: kill -9 of Cassandra, ingest before migrate', () => {
  let cassandra: PrivateCassandra;
  let environment: TestEnvironment;
  const apps: AppProcess[] = [];

  const start = async (name: 'collector' | 'ingest', env: Record<string, string>) => {
    const app = await AppProcess.start(name, env);
    apps.push(app);
    return app;
  };
  const messagesOn = async (env: TestEnvironment, topic: string) => {
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  };
  /** Event ids of the live table, for the given profiles. */
  const liveEventIds = async (env: TestEnvironment, keyspace: string, profileIds: string[]) => {
    const ids = new Set<string>();
    for (const profileId of profileIds) {
      const rows = await env.cassandra.execute(
        `SELECT event_id FROM ${keyspace}.live_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true, fetchSize: 10_000 },
      );
      for (const row of rows.rows) ids.add(String(row.get('event_id')));
    }
    return ids;
  };

  beforeAll(async () => {
    cassandra = await PrivateCassandra.create();
    await cassandra.start();
    environment = await createTestEnvironment('storage_crash', {
      CASSANDRA_CONTACT_POINTS: cassandra.contactPoint,
      INGEST_RETRY_BUDGET_MS: '1000',
      CASSANDRA_REQUEST_TIMEOUT_MS: '4000',
    });
  }, 300_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await environment?.dispose().catch(() => undefined);
    await cassandra?.dispose();
  });

  it('creates the topics with min.insync.replicas set from the replication factor, and old log times allowed', async () => {
    const admin = environment.kafka.admin();
    await admin.connect();
    try {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [environment.config.kafka.eventTopic, environment.config.kafka.deadLetterTopic].map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['min.insync.replicas', 'message.timestamp.before.max.ms', 'message.timestamp.type'],
        })),
      });
      for (const resource of described.resources) {
        // One broker here: 1, set on the topic itself rather than left to whatever the broker defaults to.
        expect(resource.configEntries).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              configName: 'min.insync.replicas',
              configValue: '1',
              configSource: ConfigSource.TOPIC_CONFIG,
            }),
            // Copies with their original's log time are never refused (ADR 9).
            expect.objectContaining({
              configName: 'message.timestamp.before.max.ms',
              configValue: '9223372036854775807',
              configSource: ConfigSource.TOPIC_CONFIG,
            }),
          ]),
        );
        expect(resource.configEntries).toContainEqual(
          expect.objectContaining({ configName: 'message.timestamp.type', configValue: 'CreateTime' }),
        );
        expect(resource.configEntries).toHaveLength(3);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('keeps every acknowledged event through a kill -9 of Cassandra mid-stream, and dead-letters none', async () => {
    const collector = await start('collector', environment.env);
    const ingest = await start('ingest', environment.env);
    const profiles = Array.from({ length: 40 }, () => uniqueProfileId('crash'));
    const device = await (await testTokens()).device(...profiles);
    const acknowledged = new Set<string>();
    const post = async (events: ReturnType<typeof watchSession>) => {
      const response = await postJson(`${collector.url}/v1/events`, { events }, device).catch(() => null);
      if (response?.status === 202 && response.body.accepted === events.length)
        for (const e of events) acknowledged.add(e.eventId);
    };
    let sessions = 0;
    const sessionsOf = (count: number) =>
      Array.from({ length: count }, () => {
        const n = sessions++;
        return watchSession(profiles[n % profiles.length], `title-${n % 7}`, Date.now() - 120 * MINUTE + n * 100);
      }).flat();
    let stopped = false;
    const stream = (async () => {
      // A steady stream: two sessions per post, about 25 posts a second.
      while (!stopped) {
        await post(sessionsOf(2));
        await sleep(40);
      }
    })();

    await eventually(async () => {
      expect((await liveEventIds(environment, environment.config.cassandra.keyspace, profiles)).size).toBeGreaterThan(
        500,
      );
    }, 60_000);
    // Then a backlog, so that ingest is surely writing (and committing offsets) at the instant of the kill:
    // Cassandra's periodic mode loses the writes since its last commit-log marker, 100 ms at most.
    const written = async () =>
      Number(
        /^viewing_history_ingest_events_written_total (\d+)/m.exec(
          await (await fetch(`${ingest.url}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const before = await written();
    for (let i = 0; i < 10; i++) await Promise.all([post(sessionsOf(100)), post(sessionsOf(100))]);
    await eventually(async () => expect(await written()).toBeGreaterThan(before + 3_000), 60_000, 50);
    await cassandra.kill();
    const ackedAtKill = acknowledged.size;
    // Down: ingest says why it waits.
    const whileDown = await eventually(async () => {
      const ready = await getJson(`${ingest.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(ready.body)).toMatch(/cassandra/);
      return ready.body;
    }, 30_000);
    await sleep(3_000);
    await cassandra.start();
    await sleep(3_000);
    stopped = true;
    await stream;
    expect(acknowledged.size).toBeGreaterThan(ackedAtKill);

    const keyspace = environment.config.cassandra.keyspace;
    await eventually(
      async () => {
        const live = await liveEventIds(environment, keyspace, profiles);
        const missing = [...acknowledged].filter((id) => !live.has(id));
        expect({ missing: missing.length, of: acknowledged.size }).toEqual({ missing: 0, of: acknowledged.size });
      },
      180_000,
      2_000,
    );
    expect(await messagesOn(environment, environment.config.kafka.deadLetterTopic)).toBe(0);
    expect(whileDown).toBeDefined();
  }, 600_000);

  it('waits for a keyspace that is not migrated yet, says why, dead-letters nothing, and ingests it all after migrate', async () => {
    const later = await createTestEnvironment('storage_later', {
      CASSANDRA_CONTACT_POINTS: cassandra.contactPoint,
      INGEST_RETRY_BUDGET_MS: '1000',
    });
    // Topics exist, the keyspace ingest is told to use does not.
    const keyspace = `${later.config.cassandra.keyspace}_later`;
    const env = { ...later.env, CASSANDRA_KEYSPACE: keyspace };
    const deadLetterTopic = later.config.kafka.deadLetterTopic;
    try {
      const events = syntheticHistory(30, 2, Date.now() - 3 * 60 * MINUTE);
      await produceEvents(later.kafka, later.config.kafka.eventTopic, events);
      const ingest = await start('ingest', env);

      const notReady = await eventually(async () => {
        const ready = await getJson(`${ingest.url}/health/ready`);
        expect(ready.status).toBe(503);
        expect(JSON.stringify(ready.body)).toMatch(new RegExp(`${keyspace} lacks migrations`));
        return ready.body;
      }, 60_000);
      expect(notReady).toBeDefined();
      // Several retry cycles (budget 1 s, pause 1 s) pass: nothing is dead-lettered, nothing skipped.
      await sleep(6_000);
      expect(await messagesOn(later, deadLetterTopic)).toBe(0);
      // The event log's partitions wait, and readiness says why.
      const stalled = await getJson(`${ingest.url}/health/ready`);
      expect(stalled.body.error?.eventLog?.message).toMatch(/stalled .*(lacks migrations|does not exist)/);

      await migrateSchema(later.cassandra, later.config.with({ cassandra: { keyspace } }).cassandra);
      const profiles = [...new Set(events.map((e) => e.profileId))];
      await eventually(
        async () => {
          const live = await liveEventIds(later, keyspace, profiles);
          expect(events.filter((e) => !live.has(e.eventId))).toEqual([]);
        },
        120_000,
        1_000,
      );
      await eventually(async () => expect((await getJson(`${ingest.url}/health/ready`)).status).toBe(200), 60_000);
      expect(await messagesOn(later, deadLetterTopic)).toBe(0);
    } finally {
      await later.cassandra.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
      await later.dispose();
    }
  }, 600_000);
});
