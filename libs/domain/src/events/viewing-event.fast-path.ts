import { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH, MAX_POSITION_MS } from './event-limits';
import {
  HistoryClearedEvent,
  PLAYBACK_REQUIRED_FIELDS,
  PlaybackEvent,
  RecordRemovedEvent,
  VIEWING_EVENT_SCHEMA_VERSION,
  ViewingEvent,
} from './viewing-event';

/**
 * The hot path of validation (issue 14): a hand-written check of the fixed event shapes that accepts only
 * what the zod schemas in viewing-event.schema.ts accept, and yields the same value. It answers null for
 * anything it is not sure of (any invalid input, and valid but unusual forms such as a time zone offset),
 * and the caller then runs the zod schema, so every error message stays the zod one. A property test
 * (viewing-event.fast-path.spec.ts) holds the two to the same answers. zod cost about 4-5 µs per event of
 * ingest's and the collector's CPU; this about 1.
 */
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const PLAYBACK_KEYS = new Set<string>([...PLAYBACK_REQUIRED_FIELDS, 'titleDurationMs']);
const ON_LOG_KEYS = ['schemaVersion', 'acceptedAt'];
const PLAYBACK_ON_LOG_KEYS = new Set([...PLAYBACK_KEYS, ...ON_LOG_KEYS]);
const RECORD_REMOVED_ON_LOG_KEYS = new Set(['type', 'eventId', 'profileId', 'occurredAt', 'recordId', ...ON_LOG_KEYS]);
const HISTORY_CLEARED_ON_LOG_KEYS = new Set(['type', 'eventId', 'profileId', 'occurredAt', ...ON_LOG_KEYS]);

type Fields = Record<string, unknown>;

export const isIdentifier = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= MAX_IDENTIFIER_LENGTH && IDENTIFIER_PATTERN.test(v);
const isUuid = (v: unknown): v is string => typeof v === 'string' && isUuidText(v);

/**
 * 8-4-4-4-12 hex digits (zod's guid), character by character: two RegExp tests an event were 1.4% of ingest's CPU
 * (session 15).
 */
export function isUuidText(v: string): boolean {
  return isUuidLayout(v, 0x20);
}

/**
 * A UUID as the service stores it (lower case): what packs into 16 bytes and reads back the same. As isUuidText
 * (its RegExp was 1.2% of the collector's CPU, session 16).
 */
export function isLowerCaseUuid(v: string): boolean {
  return isUuidLayout(v, 0);
}

/** 8-4-4-4-12 hex digits; `caseBit` 0x20 also takes upper-case letters (it folds them to lower case), 0 does not. */
function isUuidLayout(v: string, caseBit: number): boolean {
  if (v.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = v.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== DASH) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || ((c | caseBit) >= 0x61 && (c | caseBit) <= 0x66))) {
      return false;
    }
  }
  return true;
}
export const isPosition = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_POSITION_MS;

/**
 * Epoch ms of a UTC instant with seconds and up to milliseconds (what devices and encodeViewingEvent send:
 * `YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z`) whose every field is in range (as zod's date-time pattern checks: months, days
 * of the month with the Gregorian leap years, hours, minutes, seconds), else NaN. Read digit by digit: a RegExp
 * match (seven strings) and Date.parse of the same text were 2% of ingest's CPU (profile of the replay, session 15);
 * a round trip through toISOString before them 4%.
 */
function instantOf(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  const length = v.length;
  // 20 characters without a fraction; 22 to 24 with a dot and one to three digits.
  if (length !== 20 && (length < 22 || length > 24)) return NaN;
  if (
    v.charCodeAt(4) !== DASH ||
    v.charCodeAt(7) !== DASH ||
    v.charCodeAt(10) !== LETTER_T ||
    v.charCodeAt(13) !== COLON ||
    v.charCodeAt(16) !== COLON ||
    v.charCodeAt(length - 1) !== LETTER_Z ||
    (length > 20 && v.charCodeAt(19) !== DOT)
  ) {
    return NaN;
  }
  const year = digitsAt(v, 0, 4);
  const month = digitsAt(v, 5, 2);
  const day = digitsAt(v, 8, 2);
  const hour = digitsAt(v, 11, 2);
  const minute = digitsAt(v, 14, 2);
  const second = digitsAt(v, 17, 2);
  const milliseconds = length > 20 ? digitsAt(v, 20, length - 21) * FRACTION_SCALE[length - 21] : 0;
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;
  if (second < 0 || second > 59 || milliseconds < 0) return NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month])) return NaN;
  // Date.UTC reads years 0-99 as 1900-1999; Date.parse of the ISO form does not.
  if (year < 100) return Date.parse(v);
  return Date.UTC(year, month - 1, day, hour, minute, second, milliseconds);
}

const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;
/** Milliseconds per unit of a fraction of 1, 2 or 3 digits (by its number of digits). */
const FRACTION_SCALE = [0, 100, 10, 1];

/** The decimal number written by `count` ASCII digits of `text` from `start`; -1 if any is not a digit. */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function onlyKeys(input: Fields, allowed: ReadonlySet<string>): boolean {
  for (const key in input) if (!allowed.has(key) || input[key] === undefined) return false;
  return true;
}

const isPlainObject = (v: unknown): v is Fields =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

function playbackOf(input: Fields): PlaybackEvent | null {
  const { eventId, profileId, titleId, playbackSessionId, type, positionMs, deviceId, titleDurationMs } = input;
  if (type !== 'play' && type !== 'pause' && type !== 'stop') return null;
  if (!isUuid(eventId) || !isUuid(playbackSessionId)) return null;
  if (!isIdentifier(profileId) || !isIdentifier(titleId) || !isIdentifier(deviceId)) return null;
  if (!isPosition(positionMs)) return null;
  if (titleDurationMs !== undefined && !(isPosition(titleDurationMs) && titleDurationMs > 0)) return null;
  const occurredAt = instantOf(input.occurredAt);
  if (Number.isNaN(occurredAt)) return null;
  const event: PlaybackEvent = {
    eventId: eventId.toLowerCase(),
    profileId,
    titleId,
    playbackSessionId: playbackSessionId.toLowerCase(),
    type,
    positionMs,
    occurredAt,
    deviceId,
  };
  if (titleDurationMs !== undefined) event.titleDurationMs = titleDurationMs;
  return event;
}

/** What a device posted, or null: run the zod schema (validatePlaybackEvent does). */
export function fastPlaybackInput(input: unknown): PlaybackEvent | null {
  if (!isPlainObject(input) || !onlyKeys(input, PLAYBACK_KEYS)) return null;
  return playbackOf(input);
}

/** An event as on the log (schemaVersion, optional acceptedAt), or null: run the zod schema. */
export function fastLogEvent(input: unknown): ViewingEvent | null {
  if (!isPlainObject(input) || input.schemaVersion !== VIEWING_EVENT_SCHEMA_VERSION) return null;
  let acceptedAt: number | undefined;
  if (input.acceptedAt !== undefined) {
    acceptedAt = instantOf(input.acceptedAt);
    if (Number.isNaN(acceptedAt)) return null;
  }
  let event: ViewingEvent | null;
  switch (input.type) {
    case 'play':
    case 'pause':
    case 'stop':
      event = onlyKeys(input, PLAYBACK_ON_LOG_KEYS) ? playbackOf(input) : null;
      break;
    case 'record-removed':
      event = onlyKeys(input, RECORD_REMOVED_ON_LOG_KEYS) ? deletionOf(input, 'record-removed') : null;
      break;
    case 'history-cleared':
      event = onlyKeys(input, HISTORY_CLEARED_ON_LOG_KEYS) ? deletionOf(input, 'history-cleared') : null;
      break;
    default:
      return null;
  }
  if (event !== null && acceptedAt !== undefined) event.acceptedAt = acceptedAt;
  return event;
}

function deletionOf(
  input: Fields,
  type: 'record-removed' | 'history-cleared',
): RecordRemovedEvent | HistoryClearedEvent | null {
  const { eventId, profileId, recordId } = input;
  if (!isUuid(eventId) || !isIdentifier(profileId)) return null;
  const occurredAt = instantOf(input.occurredAt);
  if (Number.isNaN(occurredAt)) return null;
  if (type === 'history-cleared') return { type, eventId: eventId.toLowerCase(), profileId, occurredAt };
  if (!isUuid(recordId)) return null;
  return { type, eventId: eventId.toLowerCase(), profileId, occurredAt, recordId: recordId.toLowerCase() };
}
