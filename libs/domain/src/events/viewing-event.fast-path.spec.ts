import fc from 'fast-check';
import { PLAYBACK_REQUIRED_FIELDS } from './viewing-event';
import { MAX_POSITION_MS } from './event-limits';
import { fastLogEvent, fastPlaybackInput, isLowerCaseUuid, isUuidText } from './viewing-event.fast-path';
import { decodeViewingEvent, encodeViewingEvent, parseLogEvent, parsePlaybackInput } from './viewing-event.schema';
import { ViewingEvent } from './viewing-event';

// The fast path may decline anything (the zod schema then answers), but what it accepts must be exactly
// what zod accepts, with the same value: these properties hold it to that on valid, nearly valid and
// arbitrary inputs.

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
const uuidText = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((parts) => parts.join('-'));
const uuidLike = fc.oneof(
  uuidText,
  fc.uuid(),
  fc.string({ maxLength: 40 }),
  // One character off: a digit that is not hex, a dash out of place, a letter beyond ASCII.
  fc
    .tuple(uuidText, fc.nat(35), fc.constantFrom('g', 'G', '-', 'z', ' ', 'é', '٣', '0', '@', '`'))
    .map(([text, at, c]) => text.slice(0, at) + c + text.slice(at + 1)),
);
const identifierLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,70}$/),
  fc.constantFrom('', ' x', 'a b', 'é', 'x'.repeat(64), 'x'.repeat(65), '-x', '.'),
  fc.string({ maxLength: 8 }),
);
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const instantLike = fc.oneof(
  fc
    .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom('', '.5', '.12', '.123', '.1234', '.000000001'),
      fc.constantFrom('Z', '+01:00', '-05:30', '', 'z', '+0100'),
    )
    .map(
      ([y, mo, d, h, mi, s, frac, zone]) =>
        `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac}${zone}`,
    ),
  fc.constantFrom(
    '2026-01-10T11:59Z',
    '2026-02-29T00:00:00Z',
    '2024-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
    '2100-02-29T12:00:00.5Z',
    '0000-02-29T00:00:00Z',
    '2023-04-31T00:00:00Z',
    '2023-04-30T00:00:00Z',
    '2026-01-10T24:00:00Z',
    '2026-01-10T23:59:60Z',
    '2026-01-10 11:59:00Z',
  ),
  fc.string({ maxLength: 30 }),
  fc.integer(),
);
const positionLike = fc.oneof(
  fc.integer({ min: 0, max: MAX_POSITION_MS }),
  fc.constantFrom(-1, 0, -0, 1.5, MAX_POSITION_MS + 1, NaN, Infinity, 2 ** 53, '10'),
  fc.double(),
);
const PLAYBACK_REQUIRED = PLAYBACK_REQUIRED_FIELDS;
const playbackFields = {
  eventId: uuidLike,
  profileId: identifierLike,
  titleId: identifierLike,
  playbackSessionId: uuidLike,
  type: fc.constantFrom('play', 'pause', 'stop', 'rewind', 'record-removed', 'history-cleared'),
  positionMs: positionLike,
  occurredAt: instantLike,
  deviceId: identifierLike,
  titleDurationMs: positionLike,
};
const playbackLike = fc.record(playbackFields, {
  requiredKeys: [...PLAYBACK_REQUIRED],
});
/** Sometimes a key missing, an extra one, or an odd container. */
const mutated = (base: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof(
    { weight: 4, arbitrary: base },
    {
      weight: 1,
      arbitrary: fc.tuple(base, fc.constantFrom('eventId', 'type', 'occurredAt', 'profileId')).map(([o, key]) => {
        const { [key]: _drop, ...rest } = o;
        return rest;
      }),
    },
    { weight: 1, arbitrary: base.map((o) => ({ ...o, surprise: true })) },
    { weight: 1, arbitrary: base.map((o) => ({ ...o, eventId: undefined })) },
    { weight: 1, arbitrary: fc.constantFrom(null, [], 'x', 42, Object.create(null)) },
  );

const logLike = mutated(
  fc.oneof(
    fc.record(
      { ...playbackFields, schemaVersion: fc.constantFrom(1, 2, '1'), acceptedAt: instantLike },
      {
        requiredKeys: [...PLAYBACK_REQUIRED, 'schemaVersion'],
      },
    ),
    fc.record(
      {
        type: fc.constantFrom('record-removed', 'history-cleared', 'play'),
        eventId: uuidLike,
        profileId: identifierLike,
        occurredAt: instantLike,
        recordId: uuidLike,
        schemaVersion: fc.constantFrom(1, 2),
        acceptedAt: instantLike,
      },
      { requiredKeys: ['type', 'eventId', 'profileId', 'occurredAt', 'schemaVersion'] },
    ),
  ),
);

describe('the fast path of event validation', () => {
  it('accepts a device event only as the zod schema does, with the same value', () => {
    fc.assert(
      fc.property(mutated(playbackLike), (input) => {
        const fast = fastPlaybackInput(input);
        if (fast !== null) expect(fast).toStrictEqual(parsePlaybackInput(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('accepts an event on the log only as the zod schema does, with the same value', () => {
    fc.assert(
      fc.property(logLike, (input) => {
        const fast = fastLogEvent(input);
        if (fast !== null) expect(fast).toStrictEqual(parseLogEvent(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('takes every event encodeViewingEvent writes (the log as this service writes it)', () => {
    const events = fc.oneof(
      fc.record(
        {
          eventId: fc.uuid(),
          profileId: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
          titleId: fc.stringMatching(/^[a-z0-9][a-z0-9:]{0,20}$/),
          playbackSessionId: fc.uuid(),
          type: fc.constantFrom('play' as const, 'pause' as const, 'stop' as const),
          positionMs: fc.integer({ min: 0, max: 1_000_000 }),
          occurredAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
          deviceId: fc.constantFrom('tv', 'phone-1'),
          titleDurationMs: fc.integer({ min: 1_000_000, max: MAX_POSITION_MS }),
          acceptedAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
        },
        {
          requiredKeys: [...PLAYBACK_REQUIRED],
        },
      ),
      fc.record({
        type: fc.constant('record-removed' as const),
        eventId: fc.uuid(),
        profileId: fc.constant('p-1'),
        occurredAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
        recordId: fc.uuid(),
      }),
    );
    fc.assert(
      fc.property(events, (event) => {
        const json = JSON.parse(encodeViewingEvent(event as ViewingEvent));
        const fast = fastLogEvent(json);
        expect(fast).not.toBeNull();
        expect(fast).toStrictEqual(parseLogEvent(json));
        expect(decodeViewingEvent(encodeViewingEvent(event as ViewingEvent))).toEqual({ ok: true, value: fast });
      }),
    );
  });
});

describe('reading a UUID character by character', () => {
  // The RegExps they replace, zod's guid and the binary form's lower-case check.
  const ANY_CASE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  const LOWER_CASE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it('takes exactly what the RegExps take, in any case and in lower case only', () => {
    fc.assert(
      fc.property(uuidLike, (text) => {
        expect(isUuidText(text)).toBe(ANY_CASE.test(text));
        expect(isLowerCaseUuid(text)).toBe(LOWER_CASE.test(text));
      }),
      { numRuns: 2_000 },
    );
  });
});
