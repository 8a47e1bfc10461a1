import { randomUUID } from 'node:crypto';
import { Kafka, KafkaMessage } from 'kafkajs';
import { PartitionRange } from './dead-letter-id';

export interface ReadMessage {
  partition: number;
  message: KafkaMessage;
}

/**
 * Reads bounded offset ranges of a topic, each [low, high), by a consumer group of its own that never
 * commits and is deleted afterwards (the ingest and other readers are not disturbed). The result is in
 * (partition, offset) order.
 */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  groupPrefix: string,
  ranges: readonly PartitionRange[],
  timeoutMs: number,
): Promise<ReadMessage[]> {
  const wanted = new Map(ranges.filter((r) => r.low < r.high).map((r) => [r.partition, r]));
  if (wanted.size === 0) return [];
  const groupId = `${groupPrefix}-dead-letter-reader-${randomUUID()}`;
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  const read = new Map<number, KafkaMessage[]>();
  const done = new Set<number>();
  let finish: (error?: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => (finish = (e) => (e ? reject(e) : resolve())));
  const timer = setTimeout(() => finish(new Error(`reading ${topic} did not finish in ${timeoutMs} ms`)), timeoutMs);
  try {
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = wanted.get(batch.partition);
        if (!range || done.has(batch.partition)) return;
        const into = read.get(batch.partition) ?? [];
        read.set(batch.partition, into);
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < range.low) continue;
          if (offset >= range.high) break;
          into.push(message);
        }
        const last = BigInt(batch.messages[batch.messages.length - 1]?.offset ?? -1);
        if (last + 1n >= range.high) {
          done.add(batch.partition);
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          if (done.size === wanted.size) finish();
        }
      },
    });
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions;
    const others = partitions.map((p) => p.partitionId).filter((p) => !wanted.has(p));
    if (others.length) consumer.pause([{ topic, partitions: others }]);
    for (const range of wanted.values())
      consumer.seek({ topic, partition: range.partition, offset: String(range.low) });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  return [...read.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([partition, messages]) => messages.map((message) => ({ partition, message })));
}
