import { Kafka } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { eventLogLag } from '@vh/messaging';
import { readTopicToEnd } from '../support/event-log';
import { ModelEvent } from './reference-model';

/**
 * Opens a sealed message (docs/adr/0009) to its plaintext, or null when its key is erased. The checker opens
 * with the service's profile keys and cipher (libs/erasure) but reads the envelope and decodes the event itself,
 * from docs/event-log.md: a second reading of the documented format, apart from libs/domain and libs/erasure.
 */
export type SealedMessageOpener = (envelope: {
  profileId: string;
  keyId: string;
  /** IV | tag | ciphertext. */
  payload: Buffer;
  /** The authenticated data: the binary header, or `profileId\nkeyId` for the JSON form. */
  context: Buffer | string;
}) => Promise<Buffer | null>;

/** Everything on a topic, start to end (its end offsets at the call), decoded apart from libs/domain. */
export async function readWholeTopic(
  kafka: Kafka,
  topic: string,
  openSealed: SealedMessageOpener,
  timeoutMs = 180_000,
): Promise<ModelEvent[]> {
  const events: ModelEvent[] = [];
  for (const message of await readTopicToEnd(kafka, topic, timeoutMs)) {
    const event = await decodeMessage(message.value, Number(message.timestamp), openSealed);
    if (event) events.push(event);
  }
  return events;
}

/** The first dead letters of a topic, with their reason: a good event there breaks invariant 2. */
export async function readDeadLetters(
  kafka: Kafka,
  topic: string,
  max = 20,
): Promise<{ reason: string; at: string; value: string }[]> {
  // Samples for the report: a slow read names itself in them rather than fail the run before its model check.
  const letters = await readTopicToEnd(kafka, topic).catch((error: Error) => error);
  if (letters instanceof Error) return [{ reason: `not read: ${letters.message}`, at: '', value: '' }];
  return letters.slice(0, max).map((message) => ({
    reason: String(message.headers?.['x-dead-letter-reason'] ?? ''),
    at: new Date(Number(message.timestamp)).toISOString(),
    // A binary letter (a sealed event) as base64, not as text with NUL bytes in it.
    value: (message.value?.[0] === 0x00
      ? `base64:${message.value.toString('base64')}`
      : String(message.value ?? '')
    ).slice(0, 300),
  }));
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

/** Waits until ingest's group has committed every message of the event topic, unchanged for a while. */
export async function waitForLagToDrain(kafka: Kafka, config: AppConfig, timeoutMs: number) {
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  let drainedSince: number | null = null;
  try {
    for (;;) {
      const lag = await eventLogLag(admin, config)
        .then((partitions) => partitions.reduce((sum, p) => sum + p.lag, 0))
        .catch(() => Number.POSITIVE_INFINITY);
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

async function decodeMessage(
  value: Buffer | null,
  timestamp: number,
  openSealed: SealedMessageOpener,
): Promise<ModelEvent | null> {
  if (!value || value.length === 0) return null;
  if (value[0] === 0x00) {
    // Binary sealed event: 00 01 | u8 n, profile id | u8 k (0x90: a UUID in 16 bytes), key id | IV tag ciphertext.
    if (value[1] !== 0x01) return null;
    const profileEnd = 3 + value[2];
    const keyByte = value[profileEnd];
    const headerEnd = profileEnd + 1 + (keyByte === 0x90 ? 16 : keyByte);
    const profileId = value.toString('latin1', 3, profileEnd);
    const keyId =
      keyByte === 0x90 ? uuidOf(value, profileEnd + 1) : value.toString('latin1', profileEnd + 1, headerEnd);
    const plain = await openSealed({
      profileId,
      keyId,
      payload: value.subarray(headerEnd),
      context: value.subarray(0, headerEnd),
    });
    if (plain === null) return null;
    if (plain[0] === 0x01) return decodeBinaryPlayback(plain, profileId, timestamp);
    const inner = decode(plain, timestamp);
    // The JSON inside must name the header's profile (the service refuses it otherwise).
    return inner !== null && inner.profileId === profileId ? inner : null;
  }
  if (!value.includes('"sealed"')) return decode(value, timestamp);
  let json: any;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof json.sealed !== 'string') return decode(value, timestamp);
  const plain = await openSealed({
    profileId: json.profileId,
    keyId: json.keyId,
    payload: Buffer.from(json.payload, 'base64'),
    context: `${json.profileId}\n${json.keyId}`,
  });
  return plain === null ? null : decode(plain, timestamp);
}

function uuidOf(bytes: Buffer, at: number): string {
  const hex = bytes.toString('hex', at, at + 16);
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
}

/**
 * A playback event's binary form: tag 01, type (play, pause, stop), flags (1 acceptedAt, 2 titleDurationMs),
 * eventId and playbackSessionId (16 bytes each), occurredAt (f64 ms), positionMs (u32), acceptedAt (f64) and
 * titleDurationMs (u32) when flagged, then titleId and deviceId (u8 length, ASCII). Little-endian.
 */
function decodeBinaryPlayback(plain: Buffer, profileId: string, timestamp: number): ModelEvent | null {
  // What the service refuses is not an accepted event: the checker refuses it too (null).
  const type = (['play', 'pause', 'stop'] as const)[plain[1]];
  const flags = plain[2];
  if (type === undefined || plain.length < 49 || (flags & ~3) !== 0) return null;
  let at = 47;
  const acceptedAt = flags & 1 ? plain.readDoubleLE((at += 8) - 8) : timestamp;
  const titleDurationMs = flags & 2 ? plain.readUInt32LE((at += 4) - 4) : undefined;
  const strings: string[] = [];
  for (let i = 0; i < 2; i++) {
    if (at >= plain.length || at + 1 + plain[at] > plain.length) return null;
    strings.push(plain.toString('latin1', at + 1, at + 1 + plain[at]));
    at += 1 + plain[at];
  }
  const [titleId, deviceId] = strings;
  const occurredAt = plain.readDoubleLE(35);
  const positionMs = plain.readUInt32LE(43);
  const identifier = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
  if (at !== plain.length || !identifier.test(titleId) || !identifier.test(deviceId)) return null;
  if (!Number.isInteger(occurredAt) || !Number.isInteger(acceptedAt) || positionMs > 172_800_000) return null;
  return {
    kind: 'playback',
    eventId: uuidOf(plain, 3),
    profileId,
    occurredAt,
    acceptedAt,
    playbackSessionId: uuidOf(plain, 19),
    titleId,
    deviceId,
    type,
    positionMs,
    ...(titleDurationMs === undefined ? {} : { titleDurationMs }),
  };
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
