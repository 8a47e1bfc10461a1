import { AppConfig } from '@vh/config';
import { migrateProfileKeys } from '@vh/erasure';
import { createKafka, ensureEventLogTopics } from '@vh/messaging';
import { createCassandraClient, migrateSchema } from '@vh/storage';

/** Creates or upgrades the Cassandra schema and the Kafka topics. Safe to run any number of times. */
export async function migrate(config: AppConfig): Promise<Record<string, unknown>> {
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-migrate`);
  try {
    const schema = await migrateSchema(client, config.cassandra);
    const profileKeys = await migrateProfileKeys(client, config);
    const topics = await ensureEventLogTopics(createKafka(config.kafka, 'migrate'), config.kafka);
    return { schema, profileKeys, topics };
  } finally {
    await client.shutdown();
  }
}
