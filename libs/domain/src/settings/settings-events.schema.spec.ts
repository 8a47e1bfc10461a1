import { decodeViewingEvent, encodeViewingEvent, validateSettingsInput } from '../events/viewing-event.schema';
import { SettingsChangedEvent, TitleRemovedEvent } from '../events/viewing-event';

describe('PUT …/settings body', () => {
  it('accepts either setting or both', () => {
    expect(validateSettingsInput({ recording: 'paused' })).toEqual({ ok: true, value: { recording: 'paused' } });
    expect(validateSettingsInput({ recording: 'on', autoDelete: '18m' })).toEqual({
      ok: true,
      value: { recording: 'on', autoDelete: '18m' },
    });
  });

  it('names the field of every problem', () => {
    expect(validateSettingsInput({ recording: 'off' })).toMatchObject({ ok: false, issues: [{ field: 'recording' }] });
    expect(validateSettingsInput({ autoDelete: '6m' })).toMatchObject({ ok: false, issues: [{ field: 'autoDelete' }] });
    expect(validateSettingsInput({ recording: 'on', history: 'off' })).toMatchObject({
      ok: false,
      issues: [{ field: 'history' }],
    });
    expect(validateSettingsInput({})).toMatchObject({ ok: false, issues: [{ field: '(body)' }] });
    expect(validateSettingsInput(undefined)).toMatchObject({ ok: false, issues: [{ field: '(body)' }] });
    expect(validateSettingsInput([1])).toMatchObject({ ok: false });
  });
});

describe('member control events on the log', () => {
  const at = Date.parse('2026-03-01T10:00:00Z');
  it('round-trips a settings change and a title removal', () => {
    const settings: SettingsChangedEvent = {
      type: 'settings-changed',
      eventId: '00000000-0000-4000-8000-000000000001',
      profileId: 'p1',
      occurredAt: at,
      acceptedAt: at,
      autoDelete: '3m',
    };
    const title: TitleRemovedEvent = {
      type: 'title-removed',
      eventId: '00000000-0000-4000-8000-000000000002',
      profileId: 'p1',
      titleId: 'title-9',
      occurredAt: at,
      acceptedAt: at,
    };
    expect(decodeViewingEvent(encodeViewingEvent(settings))).toEqual({ ok: true, value: settings });
    expect(decodeViewingEvent(encodeViewingEvent(title))).toEqual({ ok: true, value: title });
  });

  it('dead-letters an unknown setting value with the field', () => {
    const raw = JSON.stringify({
      schemaVersion: 1,
      type: 'settings-changed',
      eventId: '00000000-0000-4000-8000-000000000001',
      profileId: 'p1',
      occurredAt: '2026-03-01T10:00:00Z',
      recording: 'sometimes',
    });
    expect(decodeViewingEvent(raw)).toMatchObject({ ok: false, issues: [{ field: 'recording' }] });
  });
});
