import { randomUUID } from 'node:crypto';
import { IHeaders, Kafka, KafkaMessage, Partitioners } from 'kafkajs';
import { encodeViewingEvent, PlaybackEvent, ViewingEvent } from '@vh/domain';

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

/** Reads a topic from the beginning until `count` messages arrived (or the time is up). */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<
  {
    value: Buffer | null;
    headers: IHeaders;
    key: Buffer | null;
    offset: string;
    partition: number;
    timestamp: string;
  }[]
> {
  const consumer = kafka.consumer({ groupId: `e2e-reader-${randomUUID()}` });
  const received: (KafkaMessage & { partition: number })[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          received.push({ ...message, partition });
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return received.map((m) => ({
    value: m.value,
    headers: m.headers ?? {},
    key: m.key,
    offset: m.offset,
    partition: m.partition,
    timestamp: m.timestamp,
  }));
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
