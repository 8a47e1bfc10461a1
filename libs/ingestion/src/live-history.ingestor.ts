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
import { LiveHistoryWriter, RowRejectedError, UnrecognisedRefusalError } from '@vh/storage';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** Rows whose unrecognised refusals are being counted; beyond it the oldest count restarts (safe: more retries). */
const MAX_TRACKED_REFUSALS = 10_000;

/** Single-row failures of one message with an unrecognised Invalid answer. */
interface RefusalCount {
  attempts: number;
  firstAt: number;
}

/**
 * Event log -> live history. A batch is done only when every valid event is in Cassandra and every
 * unprocessable message is in the dead-letter topic; otherwise it is retried, never skipped. Only a row
 * Cassandra itself refuses (RowRejectedError) is dead-lettered; any other failure is retried for as long
 * as it lasts (invariant 2): in place for `INGEST_RETRY_BUDGET_MS`, then the partition pauses and the same
 * batch is fetched again, with no deadline after which an event is given up.
 * One exception keeps a partition from stalling forever on one row (invariant 5): an Invalid answer no rule
 * recognises, on a settled schema (UnrecognisedRefusalError), dead-letters the row, naming the storage's
 * message, once it failed alone INGEST_UNRECOGNISED_REFUSAL_ATTEMPTS times, the first at least
 * INGEST_UNRECOGNISED_REFUSAL_MIN_MS ago (a passing cluster state clears within that; invariant 2).
 */
@Injectable()
export class LiveHistoryIngestor extends EventLogBatchHandler {
  private readonly logger = new Logger(LiveHistoryIngestor.name);
  /** By message (topic, partition, offset); cleared when its batch is done. */
  private readonly refusals = new Map<string, RefusalCount>();

  constructor(
    private readonly liveHistory: LiveHistoryWriter,
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

    const inPlaceUntil = Date.now() + this.config.ingest.retryBudgetMs;
    let pending = events;
    let rejected = 0;
    let rowsPerBatch: number | undefined;
    let backoff = FIRST_BACKOFF_MS;
    while (pending.length > 0) {
      const failed = await this.liveHistory.append(pending, { rowsPerBatch });
      pending = [];
      let unavailable: Error | null = null;
      for (const { events: group, error } of failed) {
        const rowRefusal = error instanceof RowRejectedError || error instanceof UnrecognisedRefusalError;
        if (rowRefusal && group.length > 1) {
          // One bad row fails its whole batch: write the rows one by one to find it.
          rowsPerBatch = 1;
          pending.push(...group);
          continue;
        }
        const source = group.length === 1 ? sources.get(group[0].eventId)! : undefined;
        const reason =
          error instanceof RowRejectedError
            ? `rejected by storage: ${error.message}`
            : error instanceof UnrecognisedRefusalError
              ? this.refusedLongEnough(batch, source!, error)
              : null;
        if (reason === null) {
          unavailable = error;
          pending.push(...group);
        } else {
          letters.push(this.letter(batch, source!, reason));
          rejected++;
        }
      }
      if (pending.length === 0 || unavailable === null) continue;
      if (!control.isRunning() || Date.now() + backoff > inPlaceUntil) {
        // Not a give-up: nothing is resolved, the partition pauses and this batch comes back.
        return { status: 'retry-later', reason: `${pending.length} events not written: ${unavailable.message}` };
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
    for (const message of batch.messages) this.refusals.delete(this.refusalKey(batch, message));
    metrics.ingestEventsWritten.inc(events.length - rejected);
    stopTimer();
    return { status: 'done' };
  }

  /** The dead-letter reason once the rule holds for this row (see the class comment), else null (retry). */
  private refusedLongEnough(
    batch: EventLogBatch,
    message: KafkaMessage,
    error: UnrecognisedRefusalError,
  ): string | null {
    metrics.unrecognisedRefusals.inc();
    const key = this.refusalKey(batch, message);
    const now = Date.now();
    const count = this.refusals.get(key) ?? { attempts: 0, firstAt: now };
    count.attempts++;
    const { unrecognisedRefusalAttempts, unrecognisedRefusalMinMs } = this.config.ingest;
    if (count.attempts >= unrecognisedRefusalAttempts && now - count.firstAt >= unrecognisedRefusalMinMs) {
      this.refusals.delete(key);
      const minutes = Math.round((now - count.firstAt) / 60_000);
      return `rejected by storage after ${count.attempts} attempts over ${minutes} min on a settled schema (an Invalid answer no rule recognises): ${error.storageMessage}`;
    }
    this.refusals.delete(key); // re-inserted last: the oldest count is the first dropped
    this.refusals.set(key, count);
    if (this.refusals.size > MAX_TRACKED_REFUSALS) this.refusals.delete(this.refusals.keys().next().value!);
    return null;
  }

  private refusalKey(batch: EventLogBatch, message: KafkaMessage): string {
    return `${batch.topic}/${batch.partition}/${message.offset}`;
  }

  private letter(batch: EventLogBatch, message: KafkaMessage, reason: string): DeadLetter {
    return {
      sourceTopic: batch.topic,
      sourcePartition: batch.partition,
      sourceOffset: message.offset,
      sourceTimestamp: message.timestamp,
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
