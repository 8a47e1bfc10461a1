import { randomUUID } from 'node:crypto';
import { Kafka, PartitionMetadata, Partitioners } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { EventLogOpener, OpenedMessage, PlaintextEventLogOpener } from './event-log-envelope';
import { createKafka } from './kafka-client';
import { PartitionEnds } from './partition-ends';

export interface ProfileEventLog {
  topic: string;
  partition: number;
  /** The partition's earliest offset: above 0, retention removed older messages (and maybe events). */
  earliestOffset: string;
  /** The partition's high watermark when reading started (or at its first fetch); everything before it was read. */
  endOffset: string;
  messagesRead: number;
  /** Messages of the profile that do not decode (the ingest dead-lettered them too). */
  undecodable: number;
  /** Messages of the profile sealed with an erased key (docs/adr/0009): gone for good, not counted as events. */
  erased: number;
  events: ViewingEvent[];
}

/**
 * Adds one batch's opened messages of the profile, in log order. The profile's erasure mark drops every event
 * before it (as ingest's segments do): a repair must not bring back plain events that ingest erased.
 */
export function collectProfileMessages(
  log: Pick<ProfileEventLog, 'undecodable' | 'erased' | 'events'>,
  profileId: string,
  opened: readonly OpenedMessage[],
): void {
  for (const message of opened) {
    if (message.kind === 'invalid') log.undecodable++;
    else if (message.kind === 'erased') log.erased++;
    else if (message.kind === 'profile-erased' && message.profileId === profileId && !message.superseded)
      log.events.length = 0;
    else if (message.kind === 'event' && message.event.profileId === profileId) log.events.push(message.event);
  }
}

/** The partition a profile's messages go to: murmur2 of the profile id, as every publisher keys them. */
export function profilePartition(topic: string, partitionMetadata: PartitionMetadata[], profileId: string): number {
  return Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key: profileId, value: null } });
}

/**
 * Every event of one profile in the event log: the publishers key messages by profile with murmur2 (as
 * Java clients), so they all sit in one partition, read here from its earliest offset to the end it had
 * when reading started, by a consumer group of its own (deleted afterwards; the ingest is not disturbed).
 */
export async function readProfileEvents(
  config: AppConfig,
  profileId: string,
  options: { timeoutMs?: number; kafka?: Kafka; opener?: EventLogOpener } = {},
): Promise<ProfileEventLog> {
  const kafka = options.kafka ?? createKafka(config.kafka, 'profile-reader');
  const opener = options.opener ?? new PlaintextEventLogOpener();
  const topic = config.kafka.eventTopic;
  const groupId = `${config.ingest.groupId}-profile-reader-${randomUUID()}`;
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
  await admin.connect();
  try {
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions;
    const partition = profilePartition(topic, partitions, profileId);
    const offsets = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)!;
    const result: ProfileEventLog = {
      topic,
      partition,
      earliestOffset: offsets.low,
      endOffset: offsets.high,
      messagesRead: 0,
      undecodable: 0,
      erased: 0,
      events: [],
    };
    const ends = new PartitionEnds([{ partition, start: offsets.low, end: offsets.high }]);
    if (ends.isComplete()) return result;

    let finish: (error?: Error) => void = () => undefined;
    const finished = new Promise<void>((resolve, reject) => (finish = (e) => (e ? reject(e) : resolve())));
    const timer = setTimeout(
      () =>
        finish(
          new Error(`reading partition ${partition} of ${topic} did not reach offset ${ends.endOf(partition)} in time`),
        ),
      options.timeoutMs ?? 10 * 60_000,
    );
    const consumed = (highWatermark: string, lastOffset: string) => {
      ends.consumed(partition, highWatermark, lastOffset);
      result.endOffset = String(ends.endOf(partition));
      if (ends.isComplete()) finish();
    };
    // kafkajs reports every batch it consumed, filtered or not, with its last offset (markers included); a
    // batch of nothing but markers and aborted messages never reaches eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic && payload.partition === partition)
        consumed(payload.highWatermark, payload.lastOffset);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.partition !== partition) return;
        ends.consumed(partition, batch.highWatermark);
        const mine = [];
        for (const message of batch.messages) {
          if (!ends.includes(partition, message.offset)) break;
          result.messagesRead++;
          if (message.key?.toString() === profileId) mine.push(message);
        }
        // As ingest and replay do: a missing acceptedAt is the log's timestamp, so clears are judged on the
        // service clock for a repaired profile too (invariant 6).
        // With its position, as ingest: a mark published late (superseded) clears nothing, and bounds apply.
        collectProfileMessages(result, profileId, await opener.open(mine, { topic, partition }));
        consumed(batch.highWatermark, batch.lastOffset());
      },
    });
    // Only the profile's partition is needed; the others are never fetched.
    const others = partitions.map((p) => p.partitionId).filter((p) => p !== partition);
    if (others.length) consumer.pause([{ topic, partitions: others }]);
    await finished.finally(() => clearTimeout(timer));
    return result;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
