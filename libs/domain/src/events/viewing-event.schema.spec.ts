import { decodeViewingEvent, encodeViewingEvent, validatePlaybackEvent } from './viewing-event.schema';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const policy = { now: NOW, maxClockSkewMs: 5 * 60_000, maxEventAgeMs: 7 * 24 * 3600_000 };
const valid = {
  eventId: '6F9619FF-8B86-4011-B42D-00C04FC964FF',
  profileId: 'profile-42',
  titleId: 'title:80100172',
  playbackSessionId: '3b241101-e2bb-4255-8caf-4136c566a962',
  type: 'play',
  positionMs: 1000,
  occurredAt: '2026-01-10T11:59:00Z',
  deviceId: 'tv-livingroom',
  titleDurationMs: 3_600_000,
};

describe('validatePlaybackEvent', () => {
  it('accepts a well-formed event and normalises ids and time', () => {
    const result = validatePlaybackEvent(valid, policy);
    expect(result).toEqual({
      ok: true,
      value: { ...valid, eventId: valid.eventId.toLowerCase(), occurredAt: Date.parse(valid.occurredAt) },
    });
  });

  it.each([
    ['the fast path', valid],
    // An undefined optional field sends it to the zod schema (the fast path takes only defined fields).
    ['the zod schema', { ...valid, titleDurationMs: undefined }],
  ])('gives a new object through %s, never the input: the collector stamps acceptedAt on it', (_path, input) => {
    const copy = structuredClone(input);
    const result = validatePlaybackEvent(input, policy);
    if (!result.ok) throw new Error('expected a valid event');
    expect(result.value).not.toBe(input);
    result.value.acceptedAt = 1;
    expect(input).toEqual(copy);
  });

  it('accepts an event without the optional titleDurationMs and leaves no undefined field', () => {
    const { titleDurationMs: _omit, ...rest } = valid;
    const result = validatePlaybackEvent(rest, policy);
    expect(result.ok && Object.keys(result.value)).not.toContain('titleDurationMs');
  });

  it.each([
    ['eventId', { eventId: 'not-a-uuid' }],
    ['profileId', { profileId: '' }],
    ['profileId', { profileId: 'has space' }],
    ['titleId', { titleId: 'x'.repeat(65) }],
    ['playbackSessionId', { playbackSessionId: 42 }],
    ['type', { type: 'rewind' }],
    ['positionMs', { positionMs: -1 }],
    ['positionMs', { positionMs: 1.5 }],
    ['positionMs', { positionMs: 3 * 24 * 3600_000 }],
    ['occurredAt', { occurredAt: '2026-01-10 11:59' }],
    ['occurredAt', { occurredAt: '2026-01-10T11:59:00' }],
    ['deviceId', { deviceId: undefined }],
    ['titleDurationMs', { titleDurationMs: 0 }],
    ['surprise', { surprise: true }],
  ])('reports the field %s', (field, change) => {
    const result = validatePlaybackEvent({ ...valid, ...change }, policy);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((i) => i.field)).toContain(field === 'surprise' ? '(body)' : field);
  });

  it('rejects an event beyond the clock-skew allowance', () => {
    const result = validatePlaybackEvent({ ...valid, occurredAt: '2026-01-10T12:06:00Z' }, policy);
    expect(result).toEqual({ ok: false, issues: [{ field: 'occurredAt', message: expect.stringMatching(/future/) }] });
  });

  it('accepts an event within the clock-skew allowance', () => {
    expect(validatePlaybackEvent({ ...valid, occurredAt: '2026-01-10T12:04:00Z' }, policy).ok).toBe(true);
  });

  it('rejects an event older than the maximum age', () => {
    const result = validatePlaybackEvent({ ...valid, occurredAt: '2026-01-01T00:00:00Z' }, policy);
    expect(result).toEqual({ ok: false, issues: [{ field: 'occurredAt', message: expect.stringMatching(/past/) }] });
  });

  it('rejects a position beyond the title duration', () => {
    const result = validatePlaybackEvent({ ...valid, positionMs: 3_600_001 }, policy);
    expect(!result.ok && result.issues[0].field).toBe('positionMs');
  });

  it.each([null, 'a string', [], 42])('rejects a body that is not an object: %p', (body) => {
    expect(validatePlaybackEvent(body, policy).ok).toBe(false);
  });
});

describe('the log format', () => {
  it('round-trips every event type through encode and decode', () => {
    const play = validatePlaybackEvent(valid, policy);
    if (!play.ok) throw new Error('fixture invalid');
    const removed = {
      type: 'record-removed' as const,
      eventId: '11111111-1111-4111-8111-111111111111',
      profileId: 'p',
      occurredAt: NOW,
      recordId: '22222222-2222-4222-8222-222222222222',
    };
    const cleared = {
      type: 'history-cleared' as const,
      eventId: '33333333-3333-4333-8333-333333333333',
      profileId: 'p',
      occurredAt: NOW,
    };
    for (const event of [play.value, removed, cleared]) {
      expect(decodeViewingEvent(Buffer.from(encodeViewingEvent(event)))).toEqual({ ok: true, value: event });
    }
  });

  it('carries acceptedAt on the log; an event produced without it takes the log timestamp (invariant 6)', () => {
    const play = validatePlaybackEvent(valid, policy);
    if (!play.ok) throw new Error('fixture invalid');
    const accepted = { ...play.value, acceptedAt: NOW + 1_234 };
    expect(decodeViewingEvent(encodeViewingEvent(accepted), NOW + 9_999)).toEqual({ ok: true, value: accepted });
    expect(decodeViewingEvent(encodeViewingEvent(play.value), NOW + 9_999)).toEqual({
      ok: true,
      value: { ...play.value, acceptedAt: NOW + 9_999 },
    });
    expect(decodeViewingEvent(encodeViewingEvent(play.value))).toEqual({ ok: true, value: play.value });
    // A device cannot claim an acceptance time: only the service stamps it.
    expect(validatePlaybackEvent({ ...valid, acceptedAt: valid.occurredAt }, policy).ok).toBe(false);
  });

  it('does not apply the edge time bounds to the log, so old events replay', () => {
    const old = validatePlaybackEvent(valid, policy);
    if (!old.ok) throw new Error('fixture invalid');
    const encoded = encodeViewingEvent({ ...old.value, occurredAt: Date.parse('2001-01-01T00:00:00Z') });
    expect(decodeViewingEvent(encoded).ok).toBe(true);
  });

  it('accepts any 8-4-4-4-12 hex id, not only RFC-versioned UUIDs, and stores it lower-case', () => {
    // What the log accepted once it must accept on every replay (invariant 1).
    const id = 'ABCDEFAB-aaaa-aaaa-aaaa-aaaaaaaaaaaa';
    const result = decodeViewingEvent(
      Buffer.from(JSON.stringify({ ...valid, eventId: id, playbackSessionId: id, schemaVersion: 1 })),
    );
    expect(
      result.ok && [result.value.eventId, (result.value as { playbackSessionId: string }).playbackSessionId],
    ).toEqual([id.toLowerCase(), id.toLowerCase()]);
    expect(
      decodeViewingEvent(
        Buffer.from(JSON.stringify({ ...valid, eventId: 'abcdefab-aaaa-aaaa-aaaa-aaaaaaaaaaa', schemaVersion: 1 })),
      ).ok,
    ).toBe(false);
  });

  it.each([
    ['empty', null],
    ['not JSON', Buffer.from('{nope')],
    ['wrong version', Buffer.from(JSON.stringify({ ...valid, schemaVersion: 99 }))],
    ['no version', Buffer.from(JSON.stringify(valid))],
    ['random bytes', Buffer.from([0xff, 0x00, 0x13, 0x37])],
  ])('rejects a message that is %s, with a reason', (_label, raw) => {
    const result = decodeViewingEvent(raw);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.length).toBeGreaterThan(0);
  });
});
