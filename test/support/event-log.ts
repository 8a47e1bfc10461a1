import { randomUUID } from 'node:crypto';
import { Consumer, IHeaders, Kafka, KafkaMessage, Partitioners } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { encodeViewingEvent, PlaybackEvent, ViewingEvent } from '@vh/domain';
import { eventLogLag, PartitionEnds } from '@vh/messaging';
import { eventually } from './eventually';

/** Puts raw messages on a topic, as any producer could. */
export async function produce(
  kafka: Kafka,
  topic: string,
  messages: { key: string | null; value: string | Buffer | null; headers?: IHeaders; timestamp?: string }[],
): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}

export async function produceEvents(kafka: Kafka, topic: string, events: ViewingEvent[]): Promise<void> {
  await produce(
    kafka,
    topic,
    events.map((e) => ({ key: e.profileId, value: encodeViewingEvent(e) })),
  );
}

/** A message as read off a topic. */
export interface LogMessage {
  value: Buffer | null;
  headers: IHeaders;
  key: Buffer | null;
  offset: string;
  partition: number;
  timestamp: string;
}

/** Reads a topic from the beginning until `count` messages arrived (or the time is up). */
export async function readTopic(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<LogMessage[]> {
  return readFromBeginning(kafka, topic, timeoutMs, null, (consumer, receive, finish) =>
    consumer.run({
      eachMessage: async ({ message, partition }) => {
        if (receive(message, partition) >= count) finish();
      },
    }),
  );
}

/**
 * Everything on a topic up to the end each partition had when called (PartitionEnds: transaction markers and
 * aborted messages count towards it); done as soon as it is there, instead of waiting out a timeout. Throws if
 * it is not reached in time rather than return less.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<LogMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: PartitionEnds;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new PartitionEnds(offsets.map((p) => ({ partition: p.partition, start: p.low, end: p.high })));
  } finally {
    await admin.disconnect();
  }
  if (ends.isComplete()) return [];
  const timedOut = () =>
    new Error(
      `reading ${topic} did not reach its end offsets (${ends.partitions
        .map((p) => `${p}: ${ends.endOf(p)}`)
        .join(', ')}) within ${timeoutMs} ms`,
    );
  return readFromBeginning(kafka, topic, timeoutMs, timedOut, (consumer, receive, finish) => {
    // Every consumed batch, filtered ones (markers only) too, with its last offset.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      ends.consumed(payload.partition, payload.highWatermark, payload.lastOffset);
      if (ends.isComplete()) finish();
    });
    return consumer.run({
      eachBatch: async ({ batch }) => {
        ends.consumed(batch.partition, batch.highWatermark);
        for (const message of batch.messages)
          if (ends.includes(batch.partition, message.offset)) receive(message, batch.partition);
      },
    });
  });
}

/**
 * Waits until ingest has committed every message on the event log: it publishes a message's dead letter before
 * it commits past it, so the dead-letter topic then holds all it will for them.
 */
export async function untilIngestCaughtUp(kafka: Kafka, config: AppConfig, timeoutMs = 30_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await eventually(
      async () => {
        const behind = (await eventLogLag(admin, config)).filter((p) => p.lag > 0);
        if (behind.length > 0)
          throw new Error(`ingest is behind on ${config.kafka.eventTopic}: ${JSON.stringify(behind)}`);
      },
      timeoutMs,
      200,
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Runs a consumer of a group of its own from the topic's beginning until `start`'s handlers call `finish`, or
 * for `timeoutMs`: then throws `timedOut()`, or (null) returns what arrived.
 */
async function readFromBeginning(
  kafka: Kafka,
  topic: string,
  timeoutMs: number,
  timedOut: (() => Error) | null,
  start: (
    consumer: Consumer,
    receive: (message: KafkaMessage, partition: number) => number,
    finish: () => void,
  ) => Promise<void>,
): Promise<LogMessage[]> {
  const consumer = kafka.consumer({ groupId: `e2e-reader-${randomUUID()}` });
  const received: LogMessage[] = [];
  // Once each: a consumer that rejoins after a lost session is handed its uncommitted batches again.
  const seen = new Set<string>();
  const receive = (message: KafkaMessage, partition: number) => {
    const at = `${partition}:${message.offset}`;
    if (!seen.has(at)) {
      seen.add(at);
      received.push(logMessage(message, partition));
    }
    return received.length;
  };
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => (timedOut ? reject(timedOut()) : resolve()), timeoutMs);
      void start(consumer, receive, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}

function logMessage(message: KafkaMessage, partition: number): LogMessage {
  return {
    value: message.value,
    headers: message.headers ?? {},
    key: message.key,
    offset: message.offset,
    partition,
    timestamp: message.timestamp,
  };
}

/**
 * Realistic sessions for many profiles: play, pauses and resumes, a stop. A profile's sessions start
 * 30 minutes apart from `startedAt` (each lasts under 27 minutes); profiles are a second apart.
 */
export function syntheticHistory(
  profiles: number,
  sessionsPerProfile: number,
  startedAt = Date.parse('2026-02-01T18:00:00Z'),
): PlaybackEvent[] {
  const events: PlaybackEvent[] = [];
  for (let p = 0; p < profiles; p++) {
    const profileId = `profile-${randomUUID().slice(0, 8)}`;
    for (let s = 0; s < sessionsPerProfile; s++) {
      const playbackSessionId = randomUUID();
      const base = {
        profileId,
        playbackSessionId,
        titleId: `title-${(p * 7 + s) % 13}`,
        deviceId: `device-${s % 3}`,
        titleDurationMs: 2_700_000,
      };
      let at = startedAt + s * 1_800_000 + p * 1_000;
      let position = 0;
      events.push({ ...base, eventId: randomUUID(), type: 'play', positionMs: 0, occurredAt: at });
      const steps = 1 + ((p + s) % 4);
      for (let k = 0; k < steps; k++) {
        at += 300_000;
        position += 290_000;
        events.push({
          ...base,
          eventId: randomUUID(),
          type: k % 2 === 0 ? 'pause' : 'play',
          positionMs: position,
          occurredAt: at,
        });
      }
      events.push({ ...base, eventId: randomUUID(), type: 'stop', positionMs: position, occurredAt: at + 60_000 });
    }
  }
  return events;
}
