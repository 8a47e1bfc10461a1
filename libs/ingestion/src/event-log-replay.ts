import { Logger } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { ViewingHistoryError } from '@vh/domain';
import {
  BatchOutcome,
  createKafka,
  DeadLetter,
  DeadLetterSink,
  EventLogBatchHandler,
  EventLogConsumer,
  PartitionEnds,
} from '@vh/messaging';
import { standaloneProfileKeys } from '@vh/erasure';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  migrateSchema,
  ProfileActivityIndex,
  StoredHistoryEraser,
} from '@vh/storage';
import { LiveHistoryIngestor } from './live-history.ingestor';

export interface ReplayReport {
  topic: string;
  keyspace: string;
  partitions: number;
  messages: number;
  eventsWritten: number;
  /** Events sealed with an erased profile key (docs/adr/0009): unreadable, skipped. */
  erased: number;
  /** Messages that could never be processed; already in the dead-letter topic from the first pass. */
  unprocessable: number;
  profiles: number;
  /** Messages left out by `keep` (a point-in-time restore: accepted after its --until). */
  skipped: number;
  /** Per partition, the offset the replay read up to (exclusive): where an ingest taking over continues. */
  endOffsets: Record<string, string>;
  durationMs: number;
}

export interface ReplayOptions {
  force?: boolean;
  timeoutMs?: number;
  /** Per partition, the offset to start from (a backup's); by default every partition's earliest. */
  startOffsets?: ReadonlyMap<number, bigint>;
  /** Which messages to ingest; the others are skipped (and counted). By default all. */
  keep?: (message: KafkaMessage) => boolean;
}

export class ReplayTargetNotEmptyError extends ViewingHistoryError {
  readonly code = 'replay_target_not_empty';
  constructor(keyspace: string) {
    super(`${keyspace}.live_history is not empty: replay into an empty keyspace (or pass --force)`);
  }
}

/** Counts dead letters instead of publishing them: the first pass over the log already did. */
class CountingDeadLetterSink extends DeadLetterSink {
  count = 0;
  async publish(letters: readonly DeadLetter[]): Promise<void> {
    this.count += letters.length;
  }
}

/**
 * Rebuilds the live projection from the event log: every partition from its earliest offset up to
 * the end it had when the replay started, through the same ingestor as the ingest app, with a consumer
 * group of its own (deleted afterwards) so the running ingest is not disturbed.
 */
export async function replayEventLog(config: AppConfig, options: ReplayOptions = {}): Promise<ReplayReport> {
  const logger = new Logger('replay');
  const started = Date.now();
  const keyspace = config.cassandra.keyspace;
  const topic = config.kafka.eventTopic;
  const groupId = `${config.ingest.groupId}-replay-${started}`;
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-replay`);
  const admin = createKafka(config.kafka, 'replay-admin').admin();
  const keys = standaloneProfileKeys(config, 'replay');
  let consumer: EventLogConsumer | null = null;
  try {
    await migrateSchema(client, config.cassandra);
    if (!options.force) {
      const existing = await client.execute(`SELECT profile_id FROM ${keyspace}.live_history LIMIT 1`);
      if (existing.rowLength > 0) throw new ReplayTargetNotEmptyError(keyspace);
    }
    await admin.connect();
    const endOffsets: Record<string, string> = {};
    const starts: { partition: number; offset: string }[] = [];
    const bounds: { partition: number; start: string; end: string }[] = [];
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const low = BigInt(p.low);
      const requested = options.startOffsets?.get(p.partition) ?? low;
      const start = String(requested > low ? requested : low);
      starts.push({ partition: p.partition, offset: start });
      bounds.push({ partition: p.partition, start, end: p.high });
      endOffsets[p.partition] = p.high;
    }
    const ends = new PartitionEnds(bounds);
    // The group is new: its offsets say where each partition starts (a backup's offsets, or the earliest).
    if (options.startOffsets) await admin.setOffsets({ groupId, topic, partitions: starts });
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;

    const sink = new CountingDeadLetterSink();
    const activity = new ProfileActivityIndex(client, config);
    const ingestor = new LiveHistoryIngestor(
      new LiveHistoryRepository(client, config, activity),
      sink,
      config,
      keys.opener,
      new StoredHistoryEraser(client, config, new CompressedHistoryRepository(client, config), activity),
    );
    const profiles = new Set<string>();
    let messages = 0;
    let erased = 0;
    let skipped = 0;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const consumed = (partition: number, highWatermark: string, lastOffset: string) => {
      ends.consumed(partition, highWatermark, lastOffset);
      endOffsets[partition] = String(ends.endOf(partition));
      if (ends.isComplete()) finish();
    };
    const tracker: EventLogBatchHandler = {
      async handleBatch(batch, control): Promise<BatchOutcome> {
        ends.consumed(batch.partition, batch.highWatermark);
        const within = batch.messages.filter((m) => ends.includes(batch.partition, m.offset));
        const kept = options.keep ? within.filter(options.keep) : within;
        const outcome: BatchOutcome =
          kept.length > 0 ? await ingestor.handleBatch({ ...batch, messages: kept }, control) : { status: 'done' };
        if (outcome.status === 'done') {
          messages += kept.length;
          skipped += within.length - kept.length;
          erased += outcome.erased ?? 0;
          for (const m of within) if (m.key) profiles.add(m.key.toString());
          consumed(batch.partition, batch.highWatermark, batch.lastOffset);
        }
        return outcome;
      },
      onFilteredBatch: ({ partition, highWatermark, lastOffset }) => consumed(partition, highWatermark, lastOffset),
    };
    if (!ends.isComplete()) {
      consumer = new EventLogConsumer(config.with({ ingest: { groupId } }), tracker);
      await new Promise<void>((resolve, reject) => consumer!.listen((error) => (error ? reject(error) : resolve())));
      logger.log(`replaying ${topic} (${ends.partitions.length} non-empty partitions) into ${keyspace}`);
      await withDeadline(
        finished,
        options.timeoutMs ?? 30 * 60_000,
        () => `replay did not reach the end of ${topic} in time`,
      );
    }
    return {
      topic,
      keyspace,
      partitions,
      messages,
      eventsWritten: messages - sink.count - erased,
      erased,
      unprocessable: sink.count,
      profiles: profiles.size,
      skipped,
      endOffsets,
      durationMs: Date.now() - started,
    };
  } finally {
    await consumer?.close();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await client.shutdown();
    await keys.close();
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms))),
  ]).finally(() => clearTimeout(timer));
}
