import { ConfigResourceTypes, Kafka } from 'kafkajs';
import { AppConfig } from '@vh/config';

export interface TopicReport {
  created: string[];
  existing: string[];
}

/** Creates the event topic and its dead-letter topic if missing, and keeps their retention as configured. */
export async function ensureEventLogTopics(kafka: Kafka, config: AppConfig['kafka']): Promise<TopicReport> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const wanted = [
      {
        topic: config.eventTopic,
        numPartitions: config.eventTopicPartitions,
        retentionMs: config.eventTopicRetentionMs,
      },
      { topic: config.deadLetterTopic, numPartitions: 1, retentionMs: config.deadLetterTopicRetentionMs },
    ];
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t.topic));
    if (missing.length) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.topic,
          numPartitions: t.numPartitions,
          replicationFactor: -1,
          configEntries: [{ name: 'retention.ms', value: String(t.retentionMs) }],
        })),
      });
    }
    const present = wanted.filter((t) => existing.has(t.topic));
    if (present.length) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: present.map((t) => ({
          type: ConfigResourceTypes.TOPIC,
          name: t.topic,
          configEntries: [{ name: 'retention.ms', value: String(t.retentionMs) }],
        })),
      });
    }
    return { created: missing.map((t) => t.topic), existing: present.map((t) => t.topic) };
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length) await admin.deleteTopics({ topics: present, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}
