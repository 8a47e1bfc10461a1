import { randomBytes } from 'node:crypto';
import { Client } from 'cassandra-driver';
import { Kafka } from 'kafkajs';
import { AppConfig, loadConfig } from '@vh/config';
import { createKafka, deleteTopics } from '@vh/messaging';
import { createCassandraClient, dropKeyspace } from '@vh/storage';
import { migrate } from '../../apps/cli/src/migrate.command';
import { freePort } from './free-port';

export { freePort };

/**
 * A private slice of the real infrastructure for one test suite: its own keyspace, topics, consumer
 * group and ports, so suites cannot see each other's data. Removed again by `dispose`.
 */
export interface TestEnvironment {
  env: Record<string, string>;
  config: AppConfig;
  kafka: Kafka;
  cassandra: Client;
  /** A copy of this environment pointing at another, freshly migrated keyspace. */
  withKeyspace(suffix: string): Promise<TestEnvironment>;
  dispose(): Promise<void>;
}

export async function createTestEnvironment(
  suite: string,
  overrides: Record<string, string> = {},
): Promise<TestEnvironment> {
  const id = `${suite.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    CASSANDRA_KEYSPACE: `e2e_${id}`,
    // Shared by every keyspace of the suite (withKeyspace): a replay into another one finds the same keys.
    PROFILE_KEYS_KEYSPACE: `e2e_${id}_keys`,
    EVENT_TOPIC: `e2e-${id}-events`,
    DEAD_LETTER_TOPIC: `e2e-${id}-events.dead-letter`,
    INGEST_GROUP_ID: `e2e-${id}-ingest`,
    COMPACTION_QUEUE: `e2e-${id}-compaction`,
    // One host, one clock: the range delete need not spare rows written just before the compactor's read
    // (the margin covers clock skew between hosts; its own test sets it).
    COMPACTION_DELETE_MARGIN_MS: '0',
    // Suites trigger sweeps themselves; the schedule must not fire during a run.
    COMPACTION_SCHEDULE: '0 0 1 1 *',
    COMPACTOR_PORT: String(await freePort()),
    COLLECTOR_PORT: String(await freePort()),
    API_PORT: String(await freePort()),
    INGEST_PORT: String(await freePort()),
    INGEST_PAUSE_MS: '1000',
    INGEST_SESSION_TIMEOUT_MS: '6000',
    LOG_LEVEL: 'warn',
    // On, but only for a process a full second behind: the suites run four JVM and Node processes on
    // two shared cores, and a 503 from a starved test box is not what they test (the shedding suite
    // sets its own bounds).
    HTTP_MAX_EVENT_LOOP_DELAY_MS: '1000',
    ...overrides,
  };
  return environmentFor(env, [env.EVENT_TOPIC, env.DEAD_LETTER_TOPIC], true);
}

async function environmentFor(
  env: Record<string, string>,
  ownedTopics: string[],
  ownsProfileKeys = false,
): Promise<TestEnvironment> {
  const config = loadConfig({ ...process.env, ...env });
  await migrate(config);
  const kafka = createKafka(config.kafka, 'e2e');
  const cassandra = createCassandraClient(config.cassandra, 'e2e');
  const children: TestEnvironment[] = [];
  return {
    env,
    config,
    kafka,
    cassandra,
    async withKeyspace(suffix) {
      const child = await environmentFor({ ...env, CASSANDRA_KEYSPACE: `${env.CASSANDRA_KEYSPACE}_${suffix}` }, []);
      children.push(child);
      return child;
    },
    async dispose() {
      for (const child of children) await child.dispose();
      await dropKeyspace(cassandra, config.cassandra.keyspace).catch(() => undefined);
      if (ownsProfileKeys) await dropKeyspace(cassandra, config.profileKeys.keyspace).catch(() => undefined);
      await cassandra.shutdown();
      if (ownedTopics.length) await deleteTopics(kafka, ownedTopics).catch(() => undefined);
    },
  };
}
