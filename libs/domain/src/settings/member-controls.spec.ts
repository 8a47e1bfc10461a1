import { SettingsChangedEvent, TitleRemovedEvent } from '../events/viewing-event';
import { EMPTY_COMPRESSED_HISTORY } from '../history/compressed-history';
import { compactHistory } from '../history/history-compaction';
import { foldHistory, visibleRecords } from '../history/history-fold';
import { playbackEvent } from '../testing/viewing-event.fixtures';
import {
  addUtcMonths,
  currentSettings,
  dailySweepReasons,
  DEFAULT_PROFILE_SETTINGS,
  lastSeenAt,
} from './member-controls';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const DAY = 86_400_000;
const S1 = '00000000-0000-4000-8000-000000000001';
const S2 = '00000000-0000-4000-8000-000000000002';

let n = 0;
function settings(at: number, fields: Omit<Partial<SettingsChangedEvent>, 'type'>): SettingsChangedEvent {
  n++;
  return {
    type: 'settings-changed',
    eventId: `00000000-0000-4000-9000-${String(n).padStart(12, '0')}`,
    profileId: 'profile-1',
    occurredAt: at,
    acceptedAt: at,
    ...fields,
  };
}
function titleRemoved(at: number, titleId: string): TitleRemovedEvent {
  n++;
  const eventId = `00000000-0000-4000-a000-${String(n).padStart(12, '0')}`;
  return { type: 'title-removed', eventId, profileId: 'profile-1', titleId, occurredAt: at, acceptedAt: at };
}
/** A session whose events the service accepted `skew` after the device's time. */
function session(id: string, start: number, skew = 0, titleId = 'title-1') {
  return [
    playbackEvent('play', start, 0, { playbackSessionId: id, titleId, acceptedAt: start + skew }),
    playbackEvent('stop', start + 30 * MIN, 30 * MIN, {
      playbackSessionId: id,
      titleId,
      acceptedAt: start + 30 * MIN + skew,
    }),
  ];
}
const ids = (events: Parameters<typeof foldHistory>[0], now = T0 + DAY) =>
  visibleRecords(foldHistory(events), now).map((r) => r.recordId);

const visibleIds = (events: Parameters<typeof foldHistory>[0], compressed: Parameters<typeof foldHistory>[1]) =>
  visibleRecords(foldHistory(events, compressed), T0 + DAY).map((r) => r.recordId);

describe('settings of a profile', () => {
  it('defaults to recording on and auto-delete never', () => {
    expect(currentSettings(foldHistory([]).controls)).toEqual(DEFAULT_PROFILE_SETTINGS);
  });

  it('takes the latest accepted change of each field, whatever the arrival order', () => {
    const events = [
      settings(T0 + 2, { autoDelete: '3m' }),
      settings(T0 + 1, { recording: 'paused', autoDelete: '36m' }),
    ];
    const expected = { recording: 'paused', autoDelete: '3m', updatedAt: T0 + 2 };
    expect(currentSettings(foldHistory(events).controls)).toEqual(expected);
    expect(currentSettings(foldHistory([...events].reverse()).controls)).toEqual(expected);
  });
});

// ADR 8, review of session 7: a session a pause hides, first accepted within COMPACTION_MIN_AGE_MS of a
// compaction, stays stored (hidden) until a compaction after that age; on a profile nobody reads and without
// auto-delete nothing asked for one. A profile that is or was paused is visited by the daily sweep too.
describe('the daily sweep: which profiles it visits, and why', () => {
  it('a profile that ever set an auto-delete period, or ever paused recording; not one that only resumed or chose never', () => {
    const controls = (...events: SettingsChangedEvent[]) => foldHistory(events).controls;
    expect(dailySweepReasons(controls())).toEqual([]);
    expect(dailySweepReasons(controls(settings(T0, { recording: 'on', autoDelete: 'never' })))).toEqual([]);
    expect(dailySweepReasons(controls(settings(T0, { autoDelete: '3m' })))).toEqual(['auto-delete']);
    const pausedOnce = controls(settings(T0, { recording: 'paused' }), settings(T0 + 1, { recording: 'on' }));
    expect(dailySweepReasons(pausedOnce)).toEqual(['paused']);
    expect(dailySweepReasons(controls(settings(T0, { recording: 'paused', autoDelete: '18m' }))).sort()).toEqual([
      'auto-delete',
      'paused',
    ]);
  });
});

describe('recording paused', () => {
  it('hides a session first accepted while paused, and counts one accepted after the resume', () => {
    const events = [
      settings(T0, { recording: 'paused' }),
      ...session(S1, T0 + MIN),
      settings(T0 + 2 * 60 * MIN, { recording: 'on' }),
      ...session(S2, T0 + 3 * 60 * MIN),
    ];
    expect(ids(events)).toEqual([S2]);
  });

  it('judges by the acceptance time, never the device time: a device clock hours behind changes nothing', () => {
    // The device says 08:00 (before the pause at 09:00); the service accepted it at 10:00, while paused.
    const events = [
      settings(T0 + 9 * 60 * MIN, { recording: 'paused' }),
      ...session(S1, T0 + 8 * 60 * MIN, 2 * 60 * MIN),
    ];
    expect(ids(events)).toEqual([]);
  });

  it('counts a session begun while recording was on whole, even past a pause; one begun while paused stays hidden past a resume', () => {
    const spanning = [...session(S1, T0), settings(T0 + 10 * MIN, { recording: 'paused' })];
    expect(ids(spanning)).toEqual([S1]);
    expect(visibleRecords(foldHistory(spanning))[0].positionMs).toBe(30 * MIN);
    const begunPaused = [
      settings(T0 - MIN, { recording: 'paused' }),
      ...session(S1, T0),
      settings(T0 + 10 * MIN, { recording: 'on' }),
    ];
    expect(ids(begunPaused)).toEqual([]);
  });

  it('is not undone by compaction: the paused session stays hidden when its later events arrive', () => {
    const events = [settings(T0, { recording: 'paused' }), ...session(S1, T0 + MIN)];
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, T0 + 20 * MIN, { now: T0 + DAY });
    // Its later rows stay live, so it is kept hidden (not yet for good: one of them could be a variant
    // accepted earlier), then removed for good once they are rolled up too.
    expect(visibleRecords(foldHistory(events.slice(2), compressed))).toEqual([]);
    expect(compressed.records.map((r) => r.recordId)).toEqual([S1]);
    const later = compactHistory(compressed, events.slice(2), T0 + DAY, { now: T0 + 2 * DAY });
    expect(later.records).toEqual([]);
    expect(later.removedRecordIds).toContain(S1);
  });
});

describe('recording paused, a resume stored after a compaction (chaos seed 33)', () => {
  // A late session (the device's time 20 days back) first accepted at 02:00 while paused since 00:00; the
  // resume accepted at 01:00 reaches storage only after a compaction that rolled the session up.
  const pause = settings(T0, { recording: 'paused' });
  const resume = settings(T0 + 60 * MIN, { recording: 'on' });
  const late = session(S1, T0 - 20 * DAY, 20 * DAY + 2 * 60 * MIN);

  it('keeps the session as a hidden record, shown once the resume accepted before it is stored', () => {
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [pause, ...late], T0, { now: T0 + DAY });
    expect(compressed.removedRecordIds).not.toContain(S1);
    expect(visibleIds([], compressed)).toEqual([]);
    const all = [pause, ...late, resume];
    expect(visibleRecords(foldHistory([resume], compressed), T0 + DAY)).toEqual(
      visibleRecords(foldHistory(all), T0 + DAY),
    );
    expect(visibleIds([resume], compressed)).toEqual([S1]);
    // A later compaction that stores the resume keeps it, as every reader shows it.
    const next = compactHistory(compressed, [resume], T0 + 2 * DAY, { now: T0 + 3 * DAY });
    expect(visibleIds([], next)).toEqual([S1]);
  });

  it('removes it for good once its first acceptance is before compactedBefore: an earlier resume is stored by then', () => {
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [pause, ...late], T0 + DAY, { now: T0 + 2 * DAY });
    expect(compressed.records).toEqual([]);
    expect(compressed.removedRecordIds).toContain(S1);
    expect(compressed.changed).toBe(true);
  });
});

describe('auto-delete', () => {
  const saved = T0 + 200 * DAY;
  const old = session(S1, T0);
  const recent = session(S2, T0 + 150 * DAY);

  it('hides records whose last event is older than the period from the moment the setting is saved', () => {
    const events = [...old, ...recent, settings(saved, { autoDelete: '3m' })];
    expect(ids(events, saved - 1)).toEqual([S2, S1]);
    expect(ids(events, saved)).toEqual([S2]);
    // Later, the recent one ages out too.
    expect(ids(events, addUtcMonths(lastSeenAt(visibleRecords(foldHistory(recent))[0]), 3) + 1)).toEqual([]);
  });

  it('judges the last event on the service clock: the session first accepted plus its length', () => {
    // A device clock a year behind: its occurredAt says very old; the service saw it recently.
    const skewed = session(S1, T0 + 150 * DAY - 365 * DAY, 365 * DAY);
    const events = [...skewed, settings(saved, { autoDelete: '3m' })];
    expect(ids(events, saved)).toEqual([S1]);
  });

  it('keeps deleted what a shorter period deleted, after a longer one is saved', () => {
    const events = [...old, settings(saved, { autoDelete: '3m' }), settings(saved + DAY, { autoDelete: 'never' })];
    expect(ids(events, saved + 2 * DAY)).toEqual([]);
  });

  it('removes expired records physically at compaction, with their ids so later events stay hidden', () => {
    const events = [...old, ...recent, settings(saved, { autoDelete: '3m' })];
    // Older than the period when it was set: nothing accepted earlier can keep it (it goes at once).
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, saved - DAY, { now: saved });
    expect(compressed.records.map((r) => r.recordId)).toEqual([S2]);
    expect(compressed.removedRecordIds).toContain(S1);
    expect(compressed.changed).toBe(true);
  });

  it('keeps a record deleted since compactedBefore hidden: a longer period accepted earlier may still be stored', () => {
    const shorter = settings(saved, { autoDelete: '3m' });
    // The recent session ages out under '3m' at `expired`; a 'never' accepted just before arrives late.
    const expired = addUtcMonths(lastSeenAt(visibleRecords(foldHistory(recent))[0]), 3) + 1;
    const longer = settings(expired - 60 * MIN, { autoDelete: 'never' });
    const now = expired + DAY;
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [...old, ...recent, shorter], expired - DAY, { now });
    expect(compressed.removedRecordIds).toEqual([S1]);
    expect(compressed.records.map((r) => r.recordId)).toEqual([S2]);
    expect(visibleRecords(foldHistory([], compressed), now)).toEqual([]);
    expect(visibleRecords(foldHistory([longer], compressed), now)).toEqual(
      visibleRecords(foldHistory([...old, ...recent, shorter, longer]), now),
    );
    expect(visibleRecords(foldHistory([longer], compressed), now).map((r) => r.recordId)).toEqual([S2]);
    // Without it, a compaction whose compactedBefore is past the deletion removes the record for good.
    const later = compactHistory(compressed, [], expired + DAY, { now: expired + 2 * DAY });
    expect(later.removedRecordIds).toEqual([S1, S2].sort());
    expect(later.changed).toBe(true);
  });
});

describe('remove a title', () => {
  it('removes every record of the title accepted at or before the removal; later viewing counts again', () => {
    const other = '00000000-0000-4000-8000-000000000003';
    const events = [
      ...session(S1, T0, 0, 'title-x'),
      ...session(other, T0, 0, 'title-y'),
      titleRemoved(T0 + 60 * MIN, 'title-x'),
      ...session(S2, T0 + 2 * 60 * MIN, 0, 'title-x'),
    ];
    expect(ids(events).sort()).toEqual([S1, S2, other].filter((id) => id !== S1).sort());
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, T0 + 90 * MIN, { now: T0 + DAY });
    expect(compressed.records.map((r) => r.recordId)).toEqual([other]);
    expect(visibleIds(events.slice(6), compressed).sort()).toEqual([S2, other].sort());
    // A session of the title accepted before the removal whose events arrive only after compaction: hidden.
    const late = session('00000000-0000-4000-8000-000000000004', T0 + 10 * MIN, 0, 'title-x');
    expect(visibleIds([...events.slice(6), ...late], compressed).sort()).toEqual([S2, other].sort());
  });
});
