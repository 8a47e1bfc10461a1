import { ConfigResourceTypes, Kafka } from 'kafkajs';
import { AppConfig } from '@vh/config';

export interface TopicReport {
  created: string[];
  existing: string[];
  replicationFactor: number;
  minInsyncReplicas: number;
}

/**
 * Replicas that must hold an event before the broker acknowledges it (the producers send acks=all): a
 * majority from 3 replicas up (3 -> 2, 5 -> 3), so an acknowledged event survives the loss of a broker
 * and one broker down stops no writes; 1 below that, where requiring 2 of 2 would stop writes whenever a
 * broker is down. Invariant 2.
 */
export function minInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? Math.floor(replicationFactor / 2) + 1 : 1;
}

const MAX_LONG = '9223372036854775807';

/**
 * Creates the event topic and its dead-letter topic if missing, and keeps their retention and
 * min.insync.replicas as configured (alterConfigs replaces a topic's whole configuration: both every time).
 */
export async function ensureEventLogTopics(kafka: Kafka, config: AppConfig['kafka']): Promise<TopicReport> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const replicationFactor =
      config.replicationFactor > 0
        ? config.replicationFactor
        : Math.min(3, (await admin.describeCluster()).brokers.length);
    const entries = (retentionMs: number) => [
      { name: 'retention.ms', value: String(retentionMs) },
      { name: 'min.insync.replicas', value: String(minInsyncReplicas(replicationFactor)) },
      // Ingest's copies of stale-key events and re-driven letters carry their original's (old) log time: a broker
      // limit on old timestamps would refuse them, and the partition would wait for good (ADR 9). Unlimited here.
      { name: 'message.timestamp.before.max.ms', value: MAX_LONG },
      { name: 'message.timestamp.type', value: 'CreateTime' },
    ];
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
          replicationFactor,
          configEntries: entries(t.retentionMs),
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
          configEntries: entries(t.retentionMs),
        })),
      });
    }
    return {
      created: missing.map((t) => t.topic),
      existing: present.map((t) => t.topic),
      replicationFactor,
      minInsyncReplicas: minInsyncReplicas(replicationFactor),
    };
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
