import { randomUUID } from 'node:crypto';
import { Admin, Kafka } from 'kafkajs';
import { ModelEvent } from './reference-model';

/**
 * Opens a sealed message (docs/adr/0009) to its plain JSON, or null when its key is erased. The checker
 * opens with the service's profile keys (libs/erasure) but decodes the plain event itself.
 */
export type SealedMessageOpener = (envelope: {
  profileId: string;
  keyId: string;
  payload: string;
}) => Promise<string | null>;

/** Everything on a topic, start to end (the high watermarks at the call), decoded apart from libs/domain. */
export async function readWholeTopic(
  kafka: Kafka,
  topic: string,
  openSealed: SealedMessageOpener,
  timeoutMs = 180_000,
): Promise<ModelEvent[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, number>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      if (Number(p.high) > Number(p.low)) ends.set(p.partition, Number(p.high) - 1);
    }
  } finally {
    await admin.disconnect();
  }
  const events: ModelEvent[] = [];
  if (ends.size === 0) return events;
  const consumer = kafka.consumer({ groupId: `chaos-checker-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`could not read ${topic} to its end`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const event = decode(await plainOf(message.value, openSealed), Number(message.timestamp));
          if (event) events.push(event);
          const end = ends.get(partition);
          if (end !== undefined && Number(message.offset) >= end) ends.delete(partition);
          if (ends.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return events;
}

/** The first dead letters of a topic, with their reason: a good event there breaks invariant 2. */
export async function readDeadLetters(
  kafka: Kafka,
  topic: string,
  max = 20,
): Promise<{ reason: string; at: string; value: string }[]> {
  const count = await countMessages(kafka, topic);
  if (count === 0) return [];
  const letters: { reason: string; at: string; value: string }[] = [];
  const consumer = kafka.consumer({ groupId: `chaos-checker-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          letters.push({
            reason: String(message.headers?.['x-dead-letter-reason'] ?? ''),
            at: new Date(Number(message.timestamp)).toISOString(),
            value: String(message.value ?? '').slice(0, 300),
          });
          if (letters.length >= Math.min(count, max)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return letters;
}

/** How many messages a topic holds (a dead-letter topic should hold none). */
export async function countMessages(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until a consumer group has committed every message of the topic, unchanged for a while. */
export async function waitForLagToDrain(kafka: Kafka, topic: string, groupId: string, timeoutMs: number) {
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  let drainedSince: number | null = null;
  try {
    for (;;) {
      const lag = await lagOf(admin, topic, groupId).catch(() => Number.POSITIVE_INFINITY);
      if (lag === 0) {
        drainedSince ??= Date.now();
        if (Date.now() - drainedSince >= 5_000) return;
      } else drainedSince = null;
      if (Date.now() > deadline) throw new Error(`ingest lag did not drain within ${timeoutMs} ms (lag ${lag})`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } finally {
    await admin.disconnect();
  }
}

async function lagOf(admin: Admin, topic: string, groupId: string): Promise<number> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  let lag = 0;
  for (const end of ends) {
    const done = committed.partitions.find((p) => p.partition === end.partition);
    const offset = done && Number(done.offset) >= 0 ? Number(done.offset) : Number(end.low);
    lag += Math.max(0, Number(end.high) - offset);
  }
  return lag;
}

async function plainOf(value: Buffer | null, openSealed: SealedMessageOpener): Promise<Buffer | null> {
  if (!value || !value.includes('"sealed"')) return value;
  let json: any;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return value;
  }
  if (typeof json.sealed !== 'string') return value;
  const plain = await openSealed(json);
  return plain === null ? null : Buffer.from(plain, 'utf8');
}

function decode(value: Buffer | null, timestamp: number): ModelEvent | null {
  if (!value) return null;
  let json: any;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (json.type === 'profile-erased') {
    // The mark carries the API's acceptance (taken before the key was shredded); it has no device time.
    const acceptedAt = typeof json.acceptedAt === 'string' ? Date.parse(json.acceptedAt) : Number(json.acceptedAt);
    const at = Number.isNaN(acceptedAt) ? timestamp : acceptedAt;
    return {
      kind: 'profile-erased',
      eventId: String(json.erasureId).toLowerCase(),
      profileId: json.profileId,
      occurredAt: at,
      acceptedAt: at,
    };
  }
  const occurredAt = Date.parse(json.occurredAt);
  const common = {
    eventId: String(json.eventId).toLowerCase(),
    profileId: json.profileId,
    occurredAt,
    // The service's own stamp (collector or API) when it is there; the log's timestamp is later by the
    // publish time, which a Kafka outage stretches to seconds.
    acceptedAt:
      typeof json.acceptedAt === 'string' && !Number.isNaN(Date.parse(json.acceptedAt))
        ? Date.parse(json.acceptedAt)
        : timestamp,
  };
  if (json.type === 'record-removed') return { kind: 'record-removed', ...common, recordId: json.recordId };
  if (json.type === 'history-cleared') return { kind: 'history-cleared', ...common };
  // Member controls carry the API's acceptance; the log's timestamp only stands in for a missing one.
  const accepted = typeof json.acceptedAt === 'string' ? { acceptedAt: Date.parse(json.acceptedAt) } : {};
  if (json.type === 'title-removed') return { kind: 'title-removed', ...common, ...accepted, titleId: json.titleId };
  if (json.type === 'settings-changed') {
    return {
      kind: 'settings-changed',
      ...common,
      ...accepted,
      ...(json.recording === undefined ? {} : { recording: json.recording }),
      ...(json.autoDelete === undefined ? {} : { autoDelete: json.autoDelete }),
    };
  }
  return {
    kind: 'playback',
    ...common,
    playbackSessionId: json.playbackSessionId,
    titleId: json.titleId,
    deviceId: json.deviceId,
    type: json.type,
    positionMs: json.positionMs,
    ...(json.titleDurationMs === undefined ? {} : { titleDurationMs: json.titleDurationMs }),
  };
}
