// zod 4 (shipped inside zod 3.25 as zod/v4): about six times faster here than zod 3's parser, which
// was a third of ingest's CPU per event (see BENCHMARKS.md).
import { z } from 'zod/v4';
import { fastLogEvent, fastPlaybackInput } from './viewing-event.fast-path';
import { IDENTIFIER_PATTERN, MAX_IDENTIFIER_LENGTH, MAX_POSITION_MS } from './event-limits';
import {
  AUTO_DELETE_PERIODS,
  ControlEvent,
  PLAYBACK_EVENT_TYPES,
  RECORDING_STATES,
  PlaybackEvent,
  VIEWING_EVENT_SCHEMA_VERSION,
  ViewingEvent,
} from './viewing-event';

/** One problem with one field of an input, as returned to the caller. */
export interface FieldIssue {
  field: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

const identifier = z
  .string()
  .min(1)
  .max(MAX_IDENTIFIER_LENGTH)
  .regex(
    IDENTIFIER_PATTERN,
    'must start with a letter or digit and contain only letters, digits, ".", "_", ":" or "-"',
  );
// guid: any 8-4-4-4-12 hex id, as zod 3's uuid() accepted; zod 4's uuid() also checks the RFC version and
// variant, which would dead-letter on replay events the log accepted before (invariant 1).
const uuid = z.guid({ error: 'must be a UUID (8-4-4-4-12 hex digits)' }).transform((s) => s.toLowerCase());
const isoInstant = z
  .string()
  .max(40)
  .pipe(
    z.iso.datetime({
      offset: true,
      error: 'must be an ISO-8601 date-time with a time zone, e.g. 2024-05-01T20:15:00Z',
    }),
  )
  .transform((s) => Date.parse(s));
const positionMs = z.number().int().min(0).max(MAX_POSITION_MS);

/** What a device posts. Strict: an unknown field is a client bug worth reporting, not ignoring. */
const playbackEventInput = z.strictObject({
  eventId: uuid,
  profileId: identifier,
  titleId: identifier,
  playbackSessionId: uuid,
  type: z.enum(PLAYBACK_EVENT_TYPES),
  positionMs,
  occurredAt: isoInstant,
  deviceId: identifier,
  titleDurationMs: positionMs.refine((v) => v > 0, 'must be greater than 0').optional(),
});

const recordRemoved = z.strictObject({
  type: z.literal('record-removed'),
  eventId: uuid,
  profileId: identifier,
  occurredAt: isoInstant,
  recordId: uuid,
});
const historyCleared = z.strictObject({
  type: z.literal('history-cleared'),
  eventId: uuid,
  profileId: identifier,
  occurredAt: isoInstant,
});

const titleRemoved = z.strictObject({
  type: z.literal('title-removed'),
  eventId: uuid,
  profileId: identifier,
  occurredAt: isoInstant,
  titleId: identifier,
});
/** The settings a member may change; also what `PUT …/settings` accepts (at least one field). */
export const profileSettingsInput = z.strictObject({
  recording: z.enum(RECORDING_STATES).optional(),
  autoDelete: z.enum(AUTO_DELETE_PERIODS).optional(),
});
const settingsChanged = profileSettingsInput.extend({
  type: z.literal('settings-changed'),
  eventId: uuid,
  profileId: identifier,
  occurredAt: isoInstant,
});

/**
 * An event as stored on the log: the version tag plus any event type, and when the service accepted it
 * (optional: a client that produces onto the log directly may leave it out; ingest then uses the
 * message's log timestamp). Adding an optional field keeps schema version 1: old messages stay valid.
 */
const onLog = { schemaVersion: z.literal(VIEWING_EVENT_SCHEMA_VERSION), acceptedAt: isoInstant.optional() };
const logEvent = z.discriminatedUnion('type', [
  playbackEventInput.extend(onLog),
  recordRemoved.extend(onLog),
  historyCleared.extend(onLog),
  titleRemoved.extend(onLog),
  settingsChanged.extend(onLog),
]);

function toIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : '(body)',
    message: issue.message,
  }));
}

export interface EventTimePolicy {
  /** Now, epoch ms, at the edge that receives the event. */
  now: number;
  /** How far a device clock may run ahead of ours. */
  maxClockSkewMs: number;
  /** How old an event may be when it reaches the edge (offline playback). Compaction relies on it. */
  maxEventAgeMs: number;
}

/**
 * Validates what a device posted. Time bounds apply here only: the log itself is replayed at any time. The value is
 * a new object, never the input: the caller's to complete (the collector stamps acceptedAt on it).
 */
export function validatePlaybackEvent(input: unknown, policy: EventTimePolicy): Validated<PlaybackEvent> {
  const event = fastPlaybackInput(input) ?? parsePlaybackInput(input);
  if ('ok' in event) return event;
  if (event.occurredAt > policy.now + policy.maxClockSkewMs) {
    return {
      ok: false,
      issues: [{ field: 'occurredAt', message: `is more than ${policy.maxClockSkewMs} ms in the future` }],
    };
  }
  if (event.occurredAt < policy.now - policy.maxEventAgeMs) {
    return {
      ok: false,
      issues: [{ field: 'occurredAt', message: `is more than ${policy.maxEventAgeMs} ms in the past` }],
    };
  }
  if (event.titleDurationMs !== undefined && event.positionMs > event.titleDurationMs) {
    return { ok: false, issues: [{ field: 'positionMs', message: 'is beyond titleDurationMs' }] };
  }
  return { ok: true, value: event };
}

/** The zod schema: the reference the fast path is held to, and every error message. */
export function parsePlaybackInput(input: unknown): PlaybackEvent | { ok: false; issues: FieldIssue[] } {
  const parsed = playbackEventInput.safeParse(input);
  if (!parsed.success) return { ok: false, issues: toIssues(parsed.error) };
  return stripUndefined(parsed.data);
}

/** Serialises an event for the log (UTF-8 JSON with the schema version). */
export function encodeViewingEvent(event: ViewingEvent): string {
  return JSON.stringify({
    schemaVersion: VIEWING_EVENT_SCHEMA_VERSION,
    ...event,
    occurredAt: new Date(event.occurredAt).toISOString(),
    ...(event.acceptedAt === undefined ? {} : { acceptedAt: new Date(event.acceptedAt).toISOString() }),
  });
}

/**
 * Parses a message from the log. Anything it rejects belongs in the dead-letter topic, with the reason.
 * `logTimestamp` (epoch ms of the message on the log) stands in for an acceptedAt the producer left out.
 */
export function decodeViewingEvent(raw: Buffer | string | null, logTimestamp?: number): Validated<ViewingEvent> {
  if (raw === null || raw.length === 0) return { ok: false, issues: [{ field: '(message)', message: 'is empty' }] };
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, issues: [{ field: '(message)', message: 'is not valid JSON' }] };
  }
  return decodeViewingEventJson(json, logTimestamp);
}

/** As decodeViewingEvent, for a message already parsed (`json`, what JSON.parse made of it). */
export function decodeViewingEventJson(json: unknown, logTimestamp?: number): Validated<ViewingEvent> {
  const fast = fastLogEvent(json);
  const event = fast ?? parseLogEvent(json);
  if ('ok' in event) return event;
  if (event.acceptedAt === undefined && logTimestamp !== undefined && Number.isSafeInteger(logTimestamp)) {
    event.acceptedAt = logTimestamp;
  }
  return { ok: true, value: event };
}

/** The zod schema of an event on the log (after JSON.parse): the fast path's reference, and every error. */
export function parseLogEvent(json: unknown): ViewingEvent | { ok: false; issues: FieldIssue[] } {
  const parsed = logEvent.safeParse(json);
  if (!parsed.success) return { ok: false, issues: toIssues(parsed.error) };
  const { schemaVersion: _version, ...event } = parsed.data;
  return stripUndefined(event) as PlaybackEvent | ControlEvent;
}

function stripUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

/** Validates the body of `PUT …/settings`: known values only, at least one field. */
export function validateSettingsInput(
  input: unknown,
): Validated<{ recording?: (typeof RECORDING_STATES)[number]; autoDelete?: (typeof AUTO_DELETE_PERIODS)[number] }> {
  const parsed = profileSettingsInput.safeParse(input ?? {});
  if (!parsed.success) {
    // An unknown field is named as the field, not as the body.
    const issues = parsed.error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ field: key, message: 'is not a setting (recording, autoDelete)' }))
        : toIssues(new z.ZodError([issue])),
    );
    return { ok: false, issues };
  }
  if (parsed.data.recording === undefined && parsed.data.autoDelete === undefined) {
    return { ok: false, issues: [{ field: '(body)', message: 'must set recording or autoDelete' }] };
  }
  return { ok: true, value: stripUndefined(parsed.data) };
}

export function describeIssues(issues: FieldIssue[]): string {
  return issues.map((i) => `${i.field}: ${i.message}`).join('; ');
}
