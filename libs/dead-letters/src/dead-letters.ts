import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Admin, IHeaders, Kafka, KafkaMessage, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '@vh/config';
import {
  DependencyUnavailableError,
  ErasureInProgressError,
  InvalidInputError,
  NotFoundError,
  RedriveRefusedError,
} from '@vh/domain';
import { createKafka, header, HEADERS } from '@vh/messaging';
import { metrics } from '@vh/metrics';
import {
  compareDeadLetterIds,
  DeadLetterId,
  formatDeadLetterId,
  parseDeadLetterId,
  PartitionRange,
  rangesAfter,
} from './dead-letter-id';
import { readRanges, ReadMessage } from './dead-letter-topic.reader';
import { RedriveRefusal, RedriveRefusals } from './redrive-refusals';

/** A dead letter as operators see it. */
export interface DeadLetterView {
  /** `partition-offset` in the dead-letter topic. */
  id: string;
  deadLetteredAt: string;
  reason: string;
  source: { topic: string; partition: number; offset: string; timestamp: string | null };
  key: string | null;
  /** The original message's value: UTF-8 text, or base64 when it is not valid UTF-8. */
  payload: string | null;
  payloadEncoding: 'utf8' | 'base64';
  /** The original message's own headers. */
  headers: Record<string, string>;
  /** Set when the original was itself a re-drive that was dead-lettered again. */
  redrivenFrom: string | null;
}

export interface DeadLetterPage {
  deadLetters: DeadLetterView[];
  /** Pass as `after` for the next page; null when the scan reached the end of the topic. */
  next: string | null;
  /** Letters looked at for this page (a reason filter may skip many). */
  scanned: number;
}

export interface DeadLetterCount {
  pending: number;
  partitions: { partition: number; low: string; high: string }[];
}

export interface RedriveReport {
  redriven: { id: string; eventTopic: string; key: string | null }[];
  notFound: string[];
  /**
   * Letters left in the topic, and why: an erased profile's accepted before its erasure (RedriveRefusals);
   * `inProgress`: its profile's erasure has not recorded its mark yet, to be tried again once it has.
   */
  refused: { id: string; reason: string; inProgress: boolean }[];
}

export interface PurgeReport {
  purged: number;
  partitions: { partition: number; from: string; to: string }[];
}

/** A page holds at most this many letters; one call scans at most SCAN_LIMIT (list stays bounded). */
export const MAX_PAGE_SIZE = 1_000;
export const SCAN_LIMIT = 10_000;
const READ_TIMEOUT_MS = 60_000;
/** The dead-letter bookkeeping headers: not part of the original message, so not re-driven. */
const LETTER_HEADERS: readonly string[] = [
  HEADERS.deadLetterReason,
  HEADERS.sourceTopic,
  HEADERS.sourcePartition,
  HEADERS.sourceOffset,
  HEADERS.sourceTimestamp,
];

/**
 * The dead-letter topic for operators: list, show, re-drive, purge. Re-drive appends the original message
 * to the event log again (same key, so the same partition; same log timestamp; headers say from where);
 * ingest is idempotent, so a letter re-driven twice still counts once (invariant 1). Purge deletes a
 * prefix of the topic (Kafka deleteRecords): the topic is append-only, so a purge is "everything up to
 * here is handled", and the listing starts after it.
 */
@Injectable()
export class DeadLetters implements OnApplicationShutdown {
  private readonly logger = new Logger(DeadLetters.name);
  private readonly kafka: Kafka;
  private admin: Promise<Admin> | null = null;
  private producer: Promise<Producer> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly refusals: RedriveRefusals,
  ) {
    this.kafka = createKafka(config.kafka, 'dead-letters');
  }

  private get topic(): string {
    return this.config.kafka.deadLetterTopic;
  }

  async count(): Promise<DeadLetterCount> {
    const ranges = await this.ranges();
    return {
      pending: Number(ranges.reduce((sum, r) => sum + (r.high - r.low), 0n)),
      partitions: ranges.map((r) => ({ partition: r.partition, low: String(r.low), high: String(r.high) })),
    };
  }

  /** A page in (partition, offset) order after `after`, optionally only letters whose reason contains `reason`. */
  async list(options: { after?: string; limit?: number; reason?: string } = {}): Promise<DeadLetterPage> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), MAX_PAGE_SIZE);
    const after = options.after ? parseDeadLetterId(options.after, 'after') : undefined;
    const reason = options.reason?.toLowerCase();
    const ranges = rangesAfter(await this.ranges(), after).map((r) => ({
      ...r,
      high: r.high - r.low > BigInt(SCAN_LIMIT) ? r.low + BigInt(SCAN_LIMIT) : r.high,
    }));
    const messages = await this.read(ranges);
    const page: DeadLetterView[] = [];
    let scanned = 0;
    let last: DeadLetterId | undefined;
    for (const { partition, message } of messages) {
      if (page.length >= limit || scanned >= SCAN_LIMIT) break;
      scanned++;
      last = { partition, offset: BigInt(message.offset) };
      const view = toView(partition, message);
      if (!reason || view.reason.toLowerCase().includes(reason)) page.push(view);
    }
    const exhausted = last === undefined || rangesAfter(await this.ranges(), last).length === 0;
    return { deadLetters: page, next: exhausted ? null : formatDeadLetterId(last!), scanned };
  }

  async show(id: string): Promise<DeadLetterView> {
    const [found] = await this.find([parseDeadLetterId(id)]);
    if (!found) throw new NotFoundError(`no dead letter ${id} (never written, expired or purged)`);
    return toView(found.partition, found.message);
  }

  /** Puts the named letters' original messages back on the event log. Unknown ids are reported, not fatal. */
  async redrive(ids: readonly string[], by: string): Promise<RedriveReport> {
    const wanted = ids.map((id, i) => parseDeadLetterId(id, `ids.${i}`));
    const found = await this.find(wanted);
    const foundIds = new Set(
      found.map((f) => formatDeadLetterId({ partition: f.partition, offset: BigInt(f.message.offset) })),
    );
    const { refused } = await this.sort(found);
    // Erased for good is a 400; only erasures in progress (transient) is a 409 (one error filter maps both).
    if (refused.some((r) => !r.inProgress)) throw new RedriveRefusedError(refused);
    if (refused.length > 0) throw new ErasureInProgressError(refused);
    const report = await this.send(found, by);
    return {
      ...report,
      notFound: ids.filter((id) => !foundIds.has(formatDeadLetterId(parseDeadLetterId(id)))),
      refused: [],
    };
  }

  /** Re-drives every letter in the topic as it stood when called, a bounded page at a time. */
  async redriveAll(by: string): Promise<RedriveReport> {
    const end = await this.ranges();
    const report: RedriveReport = { redriven: [], notFound: [], refused: [] };
    let after: DeadLetterId | undefined;
    for (;;) {
      const ranges = rangesAfter(end, after).map((r) => ({
        ...r,
        high: r.high - r.low > BigInt(MAX_PAGE_SIZE) ? r.low + BigInt(MAX_PAGE_SIZE) : r.high,
      }));
      if (ranges.length === 0) return report;
      // One partition's page at a time keeps the cursor simple: the first range only.
      const messages = await this.read(ranges.slice(0, 1));
      if (messages.length === 0) return report;
      const { allowed, refused } = await this.sort(messages);
      report.refused.push(...refused);
      report.redriven.push(...(await this.send(allowed, by)).redriven);
      const lastMessage = messages[messages.length - 1];
      after = { partition: lastMessage.partition, offset: BigInt(lastMessage.message.offset) };
    }
  }

  /**
   * Deletes the letters up to and including `through` in its partition, or with `all` every letter in every
   * partition as the topic stood when called (a letter written meanwhile is kept). Logged, with who asked.
   */
  async purge(target: { through?: string; all?: boolean }, by: string): Promise<PurgeReport> {
    if ((target.through === undefined) === (target.all !== true)) {
      throw new InvalidInputError([{ field: '(body)', message: 'give exactly one of through (an id) or all' }]);
    }
    const ranges = await this.ranges();
    const through = target.through !== undefined ? parseDeadLetterId(target.through, 'through') : undefined;
    const cuts = ranges
      .filter((r) => !through || r.partition === through.partition)
      .map((r) => {
        const to = through ? (through.offset + 1n < r.high ? through.offset + 1n : r.high) : r.high;
        return { partition: r.partition, from: r.low, to: to > r.low ? to : r.low };
      })
      .filter((c) => c.to > c.from);
    if (cuts.length) {
      const admin = await this.connectedAdmin();
      await admin.deleteTopicRecords({
        topic: this.topic,
        partitions: cuts.map((c) => ({ partition: c.partition, offset: String(c.to) })),
      });
    }
    const purged = Number(cuts.reduce((sum, c) => sum + (c.to - c.from), 0n));
    metrics.deadLettersPurged.inc(purged);
    this.logger.warn(
      `${by} purged ${purged} dead letter(s) of ${this.topic}: ${cuts.map((c) => `partition ${c.partition} [${c.from}, ${c.to})`).join(', ') || 'nothing to purge'}`,
    );
    return {
      purged,
      partitions: cuts.map((c) => ({ partition: c.partition, from: String(c.from), to: String(c.to) })),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    const [admin, producer] = [this.admin, this.producer];
    this.admin = this.producer = null;
    await Promise.allSettled([admin?.then((a) => a.disconnect()), producer?.then((p) => p.disconnect())]);
  }

  /** The letters that may go back on the log, and the others with the reason (RedriveRefusals). */
  private async sort(
    letters: readonly ReadMessage[],
  ): Promise<{ allowed: ReadMessage[]; refused: RedriveReport['refused'] }> {
    let reasons: (RedriveRefusal | null)[];
    try {
      reasons = await this.refusals.of(letters.map((l) => l.message));
    } catch (error) {
      throw new DependencyUnavailableError(
        'cassandra',
        `the erasure ledger could not be read: ${(error as Error).message}`,
      );
    }
    const allowed: ReadMessage[] = [];
    const refused: RedriveReport['refused'] = [];
    letters.forEach((letter, i) => {
      const refusal = reasons[i];
      if (refusal === null) allowed.push(letter);
      else refused.push({ id: `${letter.partition}-${letter.message.offset}`, ...refusal });
    });
    if (refused.length > 0) this.logger.warn(`re-drive refused for ${refused.map((r) => r.id).join(', ')}: erased`);
    return { allowed, refused };
  }

  private async send(letters: readonly ReadMessage[], by: string): Promise<Pick<RedriveReport, 'redriven'>> {
    if (letters.length === 0) return { redriven: [] };
    const eventTopic = this.config.kafka.eventTopic;
    const at = new Date().toISOString();
    const messages = letters.map(({ partition, message }) => {
      const headers: IHeaders = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) {
        if (!LETTER_HEADERS.includes(name) && value !== undefined) headers[name] = value;
      }
      headers[HEADERS.redrivenFrom] = `${this.topic}/${partition}/${message.offset}`;
      headers[HEADERS.redrivenAt] = at;
      headers[HEADERS.redrivenBy] = by.slice(0, 200);
      const source = [HEADERS.sourceTopic, HEADERS.sourcePartition, HEADERS.sourceOffset].map((h) =>
        header(message, h),
      );
      // Ingest places the copy against an erasure's mark made after the check above (log order; ADR 9). A letter
      // that was itself a copy (a re-drive's, ingest's of a stale-key event) keeps its original's: the earliest.
      if (headers[HEADERS.redrivenSource] === undefined && source.every((v) => v !== null))
        headers[HEADERS.redrivenSource] = source.join('/');
      const sourceTimestamp = header(message, HEADERS.sourceTimestamp);
      // The original log timestamp: an event without acceptedAt takes it as acceptedAt, so the re-drive folds
      // exactly as the original would have (invariant 1). Older letters lack the header: the letter's own.
      return { key: message.key, value: message.value, headers, timestamp: sourceTimestamp ?? message.timestamp };
    });
    const producer = await this.connectedProducer();
    try {
      await producer.send({ topic: eventTopic, acks: -1, messages });
    } catch (error) {
      throw new DependencyUnavailableError(
        'kafka',
        `the event log did not take the re-drive: ${(error as Error).message}`,
      );
    }
    metrics.deadLettersRedriven.inc(letters.length);
    this.logger.warn(
      `${by} re-drove ${letters.length} dead letter(s) of ${this.topic} onto ${eventTopic}: ${letters.map((l) => `${l.partition}-${l.message.offset}`).join(', ')}`,
    );
    return {
      redriven: letters.map(({ partition, message }) => ({
        id: `${partition}-${message.offset}`,
        eventTopic,
        key: message.key?.toString('utf8') ?? null,
      })),
    };
  }

  /** The letters with these ids that are still in the topic, each read once. */
  private async find(ids: readonly DeadLetterId[]): Promise<ReadMessage[]> {
    if (ids.length === 0) return [];
    const ranges = await this.ranges();
    const wanted = new Set(ids.map(formatDeadLetterId));
    const spans = new Map<number, PartitionRange>();
    for (const id of [...ids].sort(compareDeadLetterIds)) {
      const range = ranges.find((r) => r.partition === id.partition);
      if (!range || id.offset < range.low || id.offset >= range.high) continue;
      const span = spans.get(id.partition);
      if (!span) spans.set(id.partition, { partition: id.partition, low: id.offset, high: id.offset + 1n });
      else span.high = id.offset + 1n;
    }
    const messages = await this.read([...spans.values()]);
    return messages.filter(({ partition, message }) => wanted.has(`${partition}-${message.offset}`));
  }

  private async ranges(): Promise<PartitionRange[]> {
    try {
      const admin = await this.connectedAdmin();
      const offsets = await admin.fetchTopicOffsets(this.topic);
      return offsets
        .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
        .sort((a, b) => a.partition - b.partition);
    } catch (error) {
      this.admin = null;
      throw new DependencyUnavailableError('kafka', `cannot read ${this.topic}: ${(error as Error).message}`);
    }
  }

  private async read(ranges: readonly PartitionRange[]): Promise<ReadMessage[]> {
    try {
      return await readRanges(this.kafka, this.topic, this.config.kafka.clientId, ranges, READ_TIMEOUT_MS);
    } catch (error) {
      throw new DependencyUnavailableError('kafka', `cannot read ${this.topic}: ${(error as Error).message}`);
    }
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((error) => {
      this.admin = null;
      throw error;
    });
    return this.admin;
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      // murmur2 as every publisher: the same key lands on the partition the original was on.
      const producer = this.kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    })().catch((error) => {
      this.producer = null;
      throw error;
    });
    return this.producer;
  }
}

function isoOrNull(epochMs: string | null): string | null {
  const ms = Number(epochMs);
  return epochMs !== null && Number.isSafeInteger(ms) ? new Date(ms).toISOString() : null;
}

/** What one message of the dead-letter topic says, for operators. */
export function toView(partition: number, message: KafkaMessage): DeadLetterView {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (LETTER_HEADERS.includes(name) || value === undefined) continue;
    headers[name] = header(message, name) ?? '';
  }
  const text = message.value?.toString('utf8') ?? null;
  const utf8 = text === null || Buffer.from(text, 'utf8').equals(message.value!);
  return {
    id: `${partition}-${message.offset}`,
    deadLetteredAt: isoOrNull(message.timestamp) ?? '',
    reason: header(message, HEADERS.deadLetterReason) ?? '(no reason recorded)',
    source: {
      topic: header(message, HEADERS.sourceTopic) ?? '',
      partition: Number(header(message, HEADERS.sourcePartition) ?? -1),
      offset: header(message, HEADERS.sourceOffset) ?? '',
      timestamp: isoOrNull(header(message, HEADERS.sourceTimestamp)),
    },
    key: message.key?.toString('utf8') ?? null,
    payload: utf8 ? text : message.value!.toString('base64'),
    payloadEncoding: utf8 ? 'utf8' : 'base64',
    headers,
    redrivenFrom: headers[HEADERS.redrivenFrom] ?? null,
  };
}
