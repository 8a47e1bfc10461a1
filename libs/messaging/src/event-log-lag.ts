import { Admin } from 'kafkajs';
import { AppConfig } from '@vh/config';

export interface PartitionLag {
  partition: number;
  /** The ingest group's committed offset (null: it never committed on this partition). */
  committed: string | null;
  end: string;
  lag: number;
}

/**
 * How far ingest is behind, per partition of the event log: the end of each partition minus the ingest
 * group's committed offset, read from Kafka (the consumer's own lag gauge is only set when a batch comes).
 */
export async function eventLogLag(admin: Admin, config: AppConfig): Promise<PartitionLag[]> {
  const topic = config.kafka.eventTopic;
  const [ends, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: config.ingest.groupId, topics: [topic] }),
  ]);
  const byPartition = new Map(committed?.partitions.map((p) => [p.partition, p.offset]) ?? []);
  return ends
    .map((end) => {
      const offset = byPartition.get(end.partition);
      const from = offset === undefined || Number(offset) < 0 ? null : offset;
      const start = from ?? end.low;
      return {
        partition: end.partition,
        committed: from,
        end: end.high,
        lag: Math.max(0, Number(BigInt(end.high) - BigInt(start))),
      };
    })
    .sort((a, b) => a.partition - b.partition);
}
