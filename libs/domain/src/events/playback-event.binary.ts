import { MAX_IDENTIFIER_LENGTH, MAX_POSITION_MS } from './event-limits';
import { FieldIssue, Validated } from './viewing-event.schema';
import { isIdentifier, isLowerCaseUuid, isPosition } from './viewing-event.fast-path';
import { PLAYBACK_EVENT_TYPES, PlaybackEvent } from './viewing-event';

/**
 * The binary form of a playback event, what a sealed message carries inside its ciphertext (docs/event-log.md):
 * ciphertext does not compress, so the event is made small before it is sealed (337 bytes of JSON, 88 here for a
 * typical event). The profile id is not in it: the sealed envelope names it, authenticated. Little-endian:
 *
 *   0  u8   tag 0x01 (a JSON payload starts with "{")
 *   1  u8   type: 0 play, 1 pause, 2 stop
 *   2  u8   flags: 1 acceptedAt present, 2 titleDurationMs present; other bits 0
 *   3  16   eventId, the UUID's 16 bytes
 *  19  16   playbackSessionId, the UUID's 16 bytes
 *  35  f64  occurredAt, epoch ms (an integer)
 *  43  u32  positionMs
 *  ..  f64  acceptedAt, epoch ms, if flag 1
 *  ..  u32  titleDurationMs, if flag 2
 *  ..  u8 length, then ASCII: titleId; the same for deviceId; nothing after.
 *
 * Decoding accepts exactly what the JSON form of the log accepts, with the same value (property test), so which
 * form a message has never changes what a replay decides (invariant 1).
 */
export const PLAYBACK_EVENT_BINARY_TAG = 0x01;

const FLAG_ACCEPTED_AT = 1;
const FLAG_TITLE_DURATION = 2;
const FIXED_BYTES = 47;
/** The instants the JSON form can carry: four-digit years, as toISOString writes and the schema reads them. */
const FIRST_INSTANT = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Throws a RangeError on an event outside the contract (only validated events are encoded). Times are truncated
 * to whole milliseconds as a Date does, so the event decodes to what its JSON form (toISOString) would.
 */
export function encodePlaybackEventBinary(event: PlaybackEvent): Buffer {
  const { titleId, deviceId, titleDurationMs } = event;
  for (const [field, value] of [
    ['eventId', event.eventId],
    ['playbackSessionId', event.playbackSessionId],
  ] as const) {
    if (!isLowerCaseUuid(value)) throw new RangeError(`${field} is not a lower-case UUID`);
  }
  for (const [field, value] of [
    ['titleId', titleId],
    ['deviceId', deviceId],
  ] as const) {
    if (!isIdentifier(value)) throw new RangeError(`${field} is not an identifier`);
  }
  const type = PLAYBACK_EVENT_TYPES.indexOf(event.type);
  if (type < 0) throw new RangeError('type is not a playback type');
  if (!isPosition(event.positionMs)) throw new RangeError('positionMs is not a position');
  if (titleDurationMs !== undefined && !(isPosition(titleDurationMs) && titleDurationMs > 0)) {
    throw new RangeError('titleDurationMs is not a duration');
  }
  const occurredAt = wholeInstant('occurredAt', event.occurredAt);
  const acceptedAt = event.acceptedAt === undefined ? undefined : wholeInstant('acceptedAt', event.acceptedAt);
  const size =
    FIXED_BYTES +
    (acceptedAt === undefined ? 0 : 8) +
    (titleDurationMs === undefined ? 0 : 4) +
    2 +
    titleId.length +
    deviceId.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = PLAYBACK_EVENT_BINARY_TAG;
  out[1] = type;
  out[2] =
    (acceptedAt === undefined ? 0 : FLAG_ACCEPTED_AT) | (titleDurationMs === undefined ? 0 : FLAG_TITLE_DURATION);
  writeUuid(out, 3, event.eventId);
  writeUuid(out, 19, event.playbackSessionId);
  out.writeDoubleLE(occurredAt, 35);
  out.writeUInt32LE(event.positionMs, 43);
  let at = FIXED_BYTES;
  if (acceptedAt !== undefined) at = out.writeDoubleLE(acceptedAt, at);
  if (titleDurationMs !== undefined) at = out.writeUInt32LE(titleDurationMs, at);
  at = writeShortAscii(out, at, titleId);
  writeShortAscii(out, at, deviceId);
  return out;
}

/**
 * The event, or what is wrong with the bytes. `profileId` comes from the sealed envelope; `logTimestamp` stands
 * in for an acceptedAt left out, as for JSON messages.
 */
export function decodePlaybackEventBinary(
  bytes: Buffer,
  profileId: string,
  logTimestamp?: number,
): Validated<PlaybackEvent> {
  const wrong = (field: string, message: string): Validated<PlaybackEvent> => ({
    ok: false,
    issues: [{ field, message } satisfies FieldIssue],
  });
  if (bytes.length < FIXED_BYTES + 2 || bytes[0] !== PLAYBACK_EVENT_BINARY_TAG) {
    return wrong('(message)', 'is not a binary playback event');
  }
  const type = PLAYBACK_EVENT_TYPES[bytes[1]];
  if (type === undefined) return wrong('type', 'is not a playback type');
  const flags = bytes[2];
  if ((flags & ~(FLAG_ACCEPTED_AT | FLAG_TITLE_DURATION)) !== 0) return wrong('(message)', 'has unknown flags');
  const occurredAt = bytes.readDoubleLE(35) + 0; // + 0: -0 reads as 0, as its JSON form does
  if (!isInstant(occurredAt)) return wrong('occurredAt', 'is not an instant the log can carry');
  const positionMs = bytes.readUInt32LE(43);
  if (positionMs > MAX_POSITION_MS) return wrong('positionMs', `is more than ${MAX_POSITION_MS}`);
  let at = FIXED_BYTES;
  const need = (n: number) => at + n <= bytes.length;
  let acceptedAt: number | undefined;
  if (flags & FLAG_ACCEPTED_AT) {
    if (!need(8)) return wrong('(message)', 'is truncated');
    acceptedAt = bytes.readDoubleLE(at) + 0;
    at += 8;
    if (!isInstant(acceptedAt)) return wrong('acceptedAt', 'is not an instant the log can carry');
  }
  let titleDurationMs: number | undefined;
  if (flags & FLAG_TITLE_DURATION) {
    if (!need(4)) return wrong('(message)', 'is truncated');
    titleDurationMs = bytes.readUInt32LE(at);
    at += 4;
    if (titleDurationMs < 1 || titleDurationMs > MAX_POSITION_MS) {
      return wrong('titleDurationMs', `must be 1 to ${MAX_POSITION_MS}`);
    }
  }
  const strings: string[] = [];
  for (const field of ['titleId', 'deviceId']) {
    if (!need(1) || !need(1 + bytes[at])) return wrong('(message)', 'is truncated');
    const value = bytes.toString('latin1', at + 1, at + 1 + bytes[at]);
    at += 1 + bytes[at];
    if (!isIdentifier(value)) return wrong(field, 'is not an identifier');
    strings.push(value);
  }
  if (at !== bytes.length) return wrong('(message)', 'has bytes after its last field');
  if (!isIdentifier(profileId)) return wrong('profileId', 'is not an identifier');
  const event: PlaybackEvent = {
    eventId: readUuid(bytes, 3),
    profileId,
    titleId: strings[0],
    playbackSessionId: readUuid(bytes, 19),
    type,
    positionMs,
    occurredAt,
    deviceId: strings[1],
  };
  if (titleDurationMs !== undefined) event.titleDurationMs = titleDurationMs;
  if (acceptedAt !== undefined) event.acceptedAt = acceptedAt;
  else if (logTimestamp !== undefined && Number.isSafeInteger(logTimestamp)) event.acceptedAt = logTimestamp;
  return { ok: true, value: event };
}

/** Epoch ms truncated as a Date truncates it (+ 0: -0 is 0), or a RangeError outside four-digit years. */
function wholeInstant(field: string, ms: number): number {
  const whole = Math.trunc(ms) + 0;
  if (!isInstant(whole)) throw new RangeError(`${field} is not an instant the log can carry`);
  return whole;
}

function isInstant(ms: number): boolean {
  return Number.isInteger(ms) && ms >= FIRST_INSTANT && ms <= LAST_INSTANT;
}

/**
 * Writes the 16 bytes of a UUID's 8-4-4-4-12 text (either case; the caller has checked it: isUuidText or
 * isLowerCaseUuid) at `at`, digit by digit: the one conversion of the collector's binary form and of the uuid
 * columns storage binds (a RegExp replace then hex, the driver's own, was 3.3% of ingest's CPU, session 15).
 */
export function writeUuid(out: Buffer, at: number, uuid: string): void {
  for (let i = 0, c = 0; i < 16; i++, c += 2) {
    if (c === 8 || c === 13 || c === 18 || c === 23) c++;
    out[at + i] = (hexValue(uuid.charCodeAt(c)) << 4) | hexValue(uuid.charCodeAt(c + 1));
  }
}

/** The value of a hex digit, either case (the caller has checked it is one). */
function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57;
}

/** The lower-case UUID of the 16 bytes at `at`. */
export function readUuid(bytes: Buffer, at: number): string {
  const hex = bytes.toString('hex', at, at + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function writeShortAscii(out: Buffer, at: number, value: string): number {
  // Identifiers are ASCII of at most MAX_IDENTIFIER_LENGTH (64) characters: one length byte is enough.
  if (value.length > MAX_IDENTIFIER_LENGTH) throw new RangeError('identifier too long');
  out[at] = value.length;
  return at + 1 + out.write(value, at + 1, 'latin1');
}
