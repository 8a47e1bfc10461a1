import { Injectable, Logger } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { decodeViewingEvent, describeIssues, ViewingEvent } from '@vh/domain';
import {
  BatchControl,
  BatchOutcome,
  DeadLetter,
  DeadLetterSink,
  EventLogBatch,
  EventLogBatchHandler,
} from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { isTransientCassandraError, LiveHistoryRepository } from '@vh/storage';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/**
 * Event log -> live history. A batch is done only when every valid event is in Cassandra and every
 * unprocessable message is in the dead-letter topic; otherwise it is retried, never skipped.
 */
@Injectable()
export class LiveHistoryIngestor extends EventLogBatchHandler {
  private readonly logger = new Logger(LiveHistoryIngestor.name);

  constructor(
    private readonly liveHistory: LiveHistoryRepository,
    private readonly deadLetters: DeadLetterSink,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async handleBatch(batch: EventLogBatch, control: BatchControl): Promise<BatchOutcome> {
    const stopTimer = metrics.ingestBatchDuration.startTimer();
    const lastOffset = batch.messages.length ? Number(batch.messages[batch.messages.length - 1].offset) : 0;
    metrics.consumerLag.set(
      { partition: String(batch.partition) },
      Math.max(0, Number(batch.highWatermark) - lastOffset - 1),
    );
    const letters: DeadLetter[] = [];
    const sources = new Map<string, KafkaMessage>();
    const events: ViewingEvent[] = [];
    for (const message of batch.messages) {
      // Events produced without acceptedAt (other clients, backfills) are accepted when the log took them.
      const decoded = decodeViewingEvent(message.value, Number(message.timestamp));
      if (decoded.ok) {
        events.push(decoded.value);
        sources.set(decoded.value.eventId, message);
      } else {
        letters.push(this.letter(batch, message, `invalid event: ${describeIssues(decoded.issues)}`));
      }
    }

    const deadline = Date.now() + this.config.ingest.retryBudgetMs;
    let pending = events;
    let rowsPerBatch: number | undefined;
    let backoff = FIRST_BACKOFF_MS;
    while (pending.length > 0) {
      const failed = await this.liveHistory.append(pending, { rowsPerBatch });
      pending = [];
      let transient: unknown = null;
      for (const { events: group, error } of failed) {
        if (isTransientCassandraError(error)) {
          transient = error;
          pending.push(...group);
        } else if (group.length > 1) {
          // One bad row fails its whole batch: write the rows one by one to find it.
          rowsPerBatch = 1;
          pending.push(...group);
        } else {
          const source = sources.get(group[0].eventId)!;
          letters.push(this.letter(batch, source, `rejected by storage: ${(error as Error).message}`));
        }
      }
      if (pending.length === 0 || transient === null) continue;
      if (!control.isRunning() || Date.now() + backoff > deadline) {
        return {
          status: 'retry-later',
          reason: `${pending.length} events not written: ${(transient as Error).message}`,
        };
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      await control.heartbeat();
    }

    if (letters.length > 0) {
      try {
        await this.deadLetters.publish(letters);
        metrics.deadLetters.inc(letters.length);
        this.logger.warn(`${letters.length} message(s) of partition ${batch.partition} moved to the dead-letter topic`);
      } catch (error) {
        return { status: 'retry-later', reason: `dead-letter topic unavailable: ${(error as Error).message}` };
      }
    }
    metrics.ingestEventsWritten.inc(
      events.length - letters.filter((l) => l.reason.startsWith('rejected by storage')).length,
    );
    stopTimer();
    return { status: 'done' };
  }

  private letter(batch: EventLogBatch, message: KafkaMessage, reason: string): DeadLetter {
    return {
      sourceTopic: batch.topic,
      sourcePartition: batch.partition,
      sourceOffset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers,
      reason,
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
