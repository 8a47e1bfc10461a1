import { Injectable, Logger, Optional } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { UnknownProfileKeyError } from '@vh/erasure';
import { isPlaybackEvent, ViewingEvent } from '@vh/domain';
import {
  BatchControl,
  BatchOutcome,
  DeadLetter,
  DeadLetterSink,
  EventLogBatch,
  EventLogBatchHandler,
  EventLogOpener,
  header,
  HEADERS,
  OpenedMessage,
  PlaintextEventLogOpener,
} from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { LiveHistoryWriter, RowRejectedError, UnrecognisedRefusalError } from '@vh/storage';
import { WriteDatesAfterErasures } from './write-dates-after-erasures';

/** Removes what is stored of a profile (StoredHistoryEraser; a fake in unit tests). */
export abstract class ProfileHistoryEraser {
  /**
   * `hold` runs after each read and before the delete or switch it decides. `erasureTombstoneUs`: the newest
   * tombstone of the profile's rows (the live tombstone, the date of the index deletes), this one's or one
   * recorded (null: none).
   */
  abstract erase(
    profileId: string,
    options?: { hold?: () => Promise<void> },
  ): Promise<{ erasureTombstoneUs: number | null }>;
  /** Recorded tombstones of recent erasures still ahead of our clock, by profile (any process's). */
  abstract erasureTombstonesAhead(): Promise<ReadonlyMap<string, number>>;
  /** Forgets which index rows this process wrote: another process's erasure may have deleted them. */
  abstract forgetRemembered(): void;
}

/**
 * Puts events back on the log sealed with the profile's current key (ViewingEventPublisher). Used for events a
 * collector sealed after an erasure's mark with the erased key it had cached: that key is destroyed after
 * PROFILE_KEYS_SHREDDING_MS, and the copy keeps them readable for any later replay (docs/adr/0009). Each copy
 * keeps the log time of its original (`loggedAt`, the Kafka timestamp: a restore `--until` between the two takes
 * it, as it would have taken the original) and names where its original lay (`source`, topic/partition/offset,
 * as a re-drive does): the copy lands at the end of the partition, maybe after a later erasure's mark, and
 * counts as erased by a mark its original lay before.
 */
export abstract class StaleKeyRepublisher {
  abstract republish(copies: readonly StaleKeyCopy[]): Promise<void>;
}

/** An event to put on the log again: its original's log time, and its original's position (or that one's source). */
export interface StaleKeyCopy {
  event: ViewingEvent;
  loggedAt: string;
  source: string;
}

/** The events between two erasure marks of a batch, and the erasure that follows them (if any). */
interface Segment {
  events: ViewingEvent[];
  erase?: string;
}

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
  /** When this process last wrote any row: a refusal counts against its row only while others get in. */
  private lastRowWrittenAt = Number.NEGATIVE_INFINITY;
  /** Dates past erasures' tombstones ahead of our clock (ADR 9); none without an eraser. */
  private readonly writeDates: WriteDatesAfterErasures | null;

  private readonly opener: EventLogOpener;

  constructor(
    private readonly liveHistory: LiveHistoryWriter,
    private readonly deadLetters: DeadLetterSink,
    private readonly config: AppConfig,
    @Optional() opener?: EventLogOpener,
    @Optional() private readonly eraser?: ProfileHistoryEraser,
    @Optional() private readonly republisher?: StaleKeyRepublisher,
  ) {
    super();
    this.opener = opener ?? new PlaintextEventLogOpener();
    this.writeDates = eraser
      ? new WriteDatesAfterErasures(
          () => eraser.erasureTombstonesAhead(),
          config.compaction.deleteMarginMs,
          this.logger,
        )
      : null;
  }

  override onAssignmentChange(): void {
    // Another process may have erased a profile of the partitions this one now takes over: its cached keys are
    // stale, and the index rows this one remembers writing may be deleted (review, session 6: a profile whose
    // partition came back after another process met its mark got no activity row for its new history).
    this.opener.forgetCached();
    this.eraser?.forgetRemembered();
    this.writeDates?.reassigned();
  }

  async handleBatch(batch: EventLogBatch, control: BatchControl): Promise<BatchOutcome> {
    const stopTimer = metrics.ingestBatchDuration.startTimer();
    const lastOffset = batch.messages.length ? Number(batch.messages[batch.messages.length - 1].offset) : 0;
    metrics.consumerLag.set(
      { partition: String(batch.partition) },
      Math.max(0, Number(batch.highWatermark) - lastOffset - 1),
    );
    const letters: DeadLetter[] = [];
    // Opening needs the profile keys: unreachable keys are the cluster's failure, never a dead letter.
    let opened;
    try {
      opened = await this.opener.open(batch.messages, { topic: batch.topic, partition: batch.partition });
    } catch (error) {
      // Not erased, not bad input: a key nobody knows (the keys keyspace restored?) waits like an outage.
      if (error instanceof UnknownProfileKeyError) metrics.unknownProfileKeys.inc();
      return { status: 'retry-later', reason: `profile keys unavailable: ${(error as Error).message}` };
    }
    // An erasure's mark splits the batch: what came before it is written, then erased, then what follows.
    const segments: Segment[] = [{ events: [] }];
    const staleKey: StaleKeyCopy[] = [];
    let erased = 0;
    for (let i = 0; i < batch.messages.length; i++) {
      const message = batch.messages[i];
      const o = opened[i];
      if (o.kind === 'event') {
        if (o.staleKey) {
          // A re-driven message names its own original already: the earliest position is the one that counts.
          const source =
            header(message, HEADERS.redrivenSource) ?? `${batch.topic}/${batch.partition}/${message.offset}`;
          staleKey.push({ event: o.event, loggedAt: message.timestamp, source });
        }
        segments[segments.length - 1].events.push(o.event);
      } else if (o.kind === 'invalid') {
        letters.push(this.letter(batch, message, o.reason));
      } else if (o.kind === 'erased') {
        erased++;
      } else if (o.superseded) {
        this.logger.warn(
          `erasure ${o.erasureId} of profile ${o.profileId}: its mark at ${batch.partition}/${message.offset} came after ` +
            'the mark that finished it (its process stalled past its lease): it erases nothing',
        );
      } else {
        segments[segments.length - 1].erase = o.profileId;
        segments.push({ events: [] });
      }
    }

    // Before the batch is done, while the old key still exists: a crash re-publishes again, and each copy
    // counts once (same eventId and acceptance; invariant 1).
    if (staleKey.length > 0 && this.republisher) {
      try {
        await this.republisher.republish(staleKey);
      } catch (error) {
        return { status: 'retry-later', reason: `re-publish of events of an erased key: ${(error as Error).message}` };
      }
    }

    // Before any row is written: unreadable, the rows could fall under another process's erasure (invariant 2).
    try {
      await this.writeDates?.readRecord();
    } catch (error) {
      return { status: 'retry-later', reason: `erasure tombstones unreadable: ${(error as Error).message}` };
    }

    const inPlaceUntil = Date.now() + this.config.ingest.retryBudgetMs;
    const sources = new EventSources(batch.messages, opened);
    let written = 0;
    for (const segment of hoistControls(segments)) {
      for (const part of controlsFirst(segment.events)) {
        const outcome = await this.write(part, sources, batch, control, letters, inPlaceUntil);
        if (typeof outcome !== 'number') return outcome;
        written += outcome;
      }
      if (segment.erase !== undefined) {
        const failure = await this.eraseStored(segment.erase, control, inPlaceUntil);
        if (failure) return failure;
      }
    }
    if (erased > 0) metrics.erasedEventsSkipped.inc(erased);

    if (letters.length > 0) {
      try {
        await this.deadLetters.publish(letters);
        metrics.deadLetters.inc(letters.length);
        this.logger.warn(`${letters.length} message(s) of partition ${batch.partition} moved to the dead-letter topic`);
      } catch (error) {
        return { status: 'retry-later', reason: `dead-letter topic unavailable: ${(error as Error).message}` };
      }
    }
    if (this.refusals.size > 0)
      for (const message of batch.messages) this.refusals.delete(this.refusalKey(batch, message));
    metrics.ingestEventsWritten.inc(written);
    stopTimer();
    return erased > 0 ? { status: 'done', erased } : { status: 'done' };
  }

  /** Writes events, retrying in place within the budget; returns how many were written, or a retry-later. */
  private async write(
    events: ViewingEvent[],
    sources: EventSources,
    batch: EventLogBatch,
    control: BatchControl,
    letters: DeadLetter[],
    inPlaceUntil: number,
  ): Promise<number | BatchOutcome> {
    let pending = events;
    let rejected = 0;
    let rowsPerBatch: number | undefined;
    let backoff = FIRST_BACKOFF_MS;
    while (pending.length > 0) {
      const attempted = pending.length;
      const writtenAfterUs = this.writeDates?.ahead();
      const failed = await this.liveHistory.append(pending, { rowsPerBatch, writtenAfterUs });
      if (writtenAfterUs) this.writeDates!.wrote(new Set(pending.map((e) => e.profileId)));
      if (failed.reduce((n, f) => n + f.events.length, 0) < attempted) this.lastRowWrittenAt = Date.now();
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
        const source = group.length === 1 ? sources.of(group[0]) : undefined;
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
    return events.length - rejected;
  }

  /** An erasure's mark: removes what is stored of the profile (idempotent), retried like a write. */
  private async eraseStored(
    profileId: string,
    control: BatchControl,
    inPlaceUntil: number,
  ): Promise<BatchOutcome | null> {
    if (!this.eraser) return null;
    let backoff = FIRST_BACKOFF_MS;
    let moved = false;
    for (;;) {
      try {
        // A process that stalled past its session must not delete what the partition's new owner wrote since
        // (the events after this mark, read as the newest rows): it finds out from the group before it deletes.
        // kafkajs answers a member the group removed by throwing from the heartbeat.
        const hold = async () => {
          try {
            await control.heartbeat();
          } catch (error) {
            moved = true;
            throw error;
          }
          if (!control.isRunning()) throw new Error('the consumer is stopping');
        };
        const { erasureTombstoneUs } = await this.eraser.erase(profileId, { hold });
        if (erasureTombstoneUs !== null) this.writeDates?.erased(profileId, erasureTombstoneUs);
        metrics.profileErasures.inc({ by: 'ingest' });
        return null;
      } catch (error) {
        if (moved || !control.isRunning() || Date.now() + backoff > inPlaceUntil) {
          const why = moved ? 'the group did not take a heartbeat (the partition may have moved)' : 'failed';
          return { status: 'retry-later', reason: `erasure of ${profileId} ${why}: ${(error as Error).message}` };
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        await control.heartbeat();
      }
    }
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
    // Every row refused alike (a guardrail, a cluster setting) is the cluster's state, never a row's fault:
    // such a refusal dead-letters only while other rows are written meanwhile (invariant 2).
    const othersGetIn = this.lastRowWrittenAt >= count.firstAt;
    if (
      othersGetIn &&
      count.attempts >= unrecognisedRefusalAttempts &&
      now - count.firstAt >= unrecognisedRefusalMinMs
    ) {
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

/**
 * Another profile's erasure mark splits the batch into segments, and erasing can take seconds: the controls
 * of profiles without a mark in the batch go to the first segment, so none waits behind a segment boundary
 * while playback rows of its profile are already stored (review, session 6). A marked profile's controls stay
 * on their side of its mark.
 */
function hoistControls(segments: Segment[]): Segment[] {
  if (segments.length === 1) return segments;
  const marked = new Set(segments.map((s) => s.erase).filter((p): p is string => p !== undefined));
  const hoisted = (e: ViewingEvent) => !isPlaybackEvent(e) && !marked.has(e.profileId);
  const controls = segments.flatMap((s) => s.events.filter(hoisted));
  if (controls.length === 0) return segments;
  return segments.map((s, i) => ({
    ...s,
    events: [...(i === 0 ? controls : []), ...s.events.filter((e) => !hoisted(e))],
  }));
}

/**
 * A batch's controls (settings, removals, clears), then its playback events: a batch is written in groups, each
 * retried on its own, and a compaction reading the profile between them saw a session's rows without the
 * resume accepted before it, judged the session begun while paused and kept only its id, for good (chaos seed
 * 33, session 6). Written first, every control of the batch is stored before any playback row of it.
 */
function controlsFirst(events: ViewingEvent[]): ViewingEvent[][] {
  const controls = events.filter((e) => !isPlaybackEvent(e));
  if (controls.length === 0 || controls.length === events.length) return [events];
  return [controls, events.filter(isPlaybackEvent)];
}

/**
 * The message each event of a batch came from, for a dead letter. Looked up only when a row fails alone: built
 * then, not for every event of every batch (ingest's replay, session 15). By eventId; a repeated id names its
 * last message, as before.
 */
class EventSources {
  private byEventId: Map<string, KafkaMessage> | null = null;

  constructor(
    private readonly messages: readonly KafkaMessage[],
    private readonly opened: readonly OpenedMessage[],
  ) {}

  of(event: ViewingEvent): KafkaMessage {
    if (this.byEventId === null) {
      this.byEventId = new Map();
      this.opened.forEach((o, i) => {
        if (o.kind === 'event') this.byEventId!.set(o.event.eventId, this.messages[i]);
      });
    }
    return this.byEventId.get(event.eventId)!;
  }
}
