import { Injectable, Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { metrics } from '@vh/metrics';
import { EventLogStalls } from './event-log-stalls';
import { createKafka } from './kafka-client';

export interface EventLogBatch {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
  highWatermark: string;
  /** The last offset the batch covers: its last message, or a transaction marker after it. */
  lastOffset: string;
}

export interface BatchControl {
  heartbeat(): Promise<void>;
  /**
   * False once the consumer is stopping or a seek made the batch stale: stop retrying then. A rebalance that
   * removed this member shows instead as a heartbeat that throws (kafkajs: UNKNOWN_MEMBER_ID and the like).
   */
  isRunning(): boolean;
}

/** `erased`: messages skipped as sealed with an erased profile key (docs/adr/0009). */
export type BatchOutcome = { status: 'done'; erased?: number } | { status: 'retry-later'; reason: string };

/** Processes one batch of one partition. Offsets are committed only for batches reported done. */
export abstract class EventLogBatchHandler {
  abstract handleBatch(batch: EventLogBatch, control: BatchControl): Promise<BatchOutcome>;
  /** The group rebalanced: this process may own other partitions now. */
  onAssignmentChange?(): void;
  /**
   * A batch held only transaction markers and aborted messages (kafkajs resolves its offsets itself and never
   * hands it to handleBatch): a reader that must reach an end offset learns here that it moved past them.
   */
  onFilteredBatch?(batch: Omit<EventLogBatch, 'messages'>): void;
}

/**
 * The Nest transport that feeds the event log to a batch handler: a kafkajs consumer-group member with
 * eachBatch (the built-in Kafka transport handles one message at a time). A batch that cannot be
 * processed now pauses its partition and is fetched again from the same offset later: never skipped.
 */
@Injectable()
export class EventLogConsumer extends Server implements CustomTransportStrategy {
  protected override readonly logger = new Logger(EventLogConsumer.name);
  private readonly kafka: Kafka;
  private consumer: Consumer | null = null;
  private readonly resumeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly config: AppConfig,
    private readonly handler: EventLogBatchHandler,
    private readonly stalls: EventLogStalls = new EventLogStalls(),
  ) {
    super();
    this.kafka = createKafka(config.kafka, 'ingest');
  }

  listen(callback: (error?: unknown) => void): void {
    this.start().then(
      () => callback(),
      (error) => callback(error),
    );
  }

  async close(): Promise<void> {
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    // Stops fetching and waits for the batch in progress; its offsets are committed only if it finished.
    await this.consumer?.disconnect();
    this.consumer = null;
  }

  on(): never {
    throw new Error('EventLogConsumer does not emit transport events');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }

  private async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.config.ingest.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.config.ingest.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, this.config.ingest.sessionTimeoutMs / 3),
      maxBytesPerPartition: 1_048_576,
      maxWaitTimeInMs: 250,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) =>
      this.logger.error(`consumer crashed (restart: ${event.payload.restart}): ${event.payload.error.message}`),
    );
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize === 0) this.handler.onFilteredBatch?.(payload);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.stalls.clearAll();
      this.handler.onAssignmentChange?.();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.config.kafka.eventTopic], fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: true,
      partitionsConsumedConcurrently: this.config.ingest.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.processBatch(payload),
    });
    this.logger.log(`consuming ${this.config.kafka.eventTopic} as group ${this.config.ingest.groupId}`);
  }

  private async processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const outcome = await this.handler.handleBatch(
      {
        topic: batch.topic,
        partition: batch.partition,
        messages: batch.messages,
        highWatermark: batch.highWatermark,
        lastOffset: batch.lastOffset(),
      },
      { heartbeat: () => payload.heartbeat(), isRunning: () => payload.isRunning() && !payload.isStale() },
    );
    if (outcome.status === 'done') {
      this.stalls.clear(batch.partition);
      payload.resolveOffset(batch.messages[batch.messages.length - 1].offset);
      await payload.commitOffsetsIfNecessary();
      await payload.heartbeat();
      return;
    }
    // Nothing resolved: after the pause the same messages are fetched again, for as long as it takes.
    if (this.stalls.stall(batch.partition, outcome.reason))
      this.logger.warn(
        `partition ${batch.partition} paused at offset ${batch.firstOffset()}, retrying every ${this.config.ingest.pauseMs} ms: ${outcome.reason}`,
      );
    metrics.partitionPauses.inc();
    const resume = payload.pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      resume();
    }, this.config.ingest.pauseMs);
    this.resumeTimers.add(timer);
  }
}
