import { PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { compactHistory } from './history-compaction';
import { foldHistory, visibleRecords } from './history-fold';
import { SettledSessionNotRebuiltError, settledSessionsTouched, withTrailsFromEventLog } from './settled-sessions';

// Cases an independent review ran against the first versions of settled records (session 7).
const S = '00000000-0000-4000-8000-000000000001';
const event = (eventId: string, occurredAt: number, acceptedAt?: number, type: PlaybackEvent['type'] = 'play') =>
  ({
    type,
    eventId,
    profileId: 'p',
    playbackSessionId: S,
    titleId: 't',
    deviceId: 'd',
    occurredAt,
    positionMs: 0,
    ...(acceptedAt === undefined ? {} : { acceptedAt }),
  }) as PlaybackEvent;
const paused = (at: number): ViewingEvent => ({
  type: 'settings-changed',
  eventId: 'pause',
  profileId: 'p',
  occurredAt: at,
  acceptedAt: at,
  recording: 'paused',
});
const cleared = (at: number): ViewingEvent => ({
  type: 'history-cleared',
  eventId: 'clear',
  profileId: 'p',
  occurredAt: at,
  acceptedAt: at,
});

describe('settled records and acceptance times (ADR 6, ADR 7)', () => {
  it('never hides for good a session whose rows stay live: a variant among them may be accepted earlier', () => {
    // The re-stamped variant past the cutoff was accepted first, before the pause: the session counts.
    const all = [event('e', 10_000, 100), event('e', 1_000, 200), paused(150)];
    expect(visibleRecords(foldHistory(all)).map((r) => r.recordId)).toEqual([S]);
    const next = compactHistory(EMPTY_COMPRESSED_HISTORY, all, 5_000);
    expect(next.removedRecordIds).toEqual([]);
    const stillLive = all.filter((e) => e.occurredAt >= next.compactedBefore! || e.type === 'settings-changed');
    expect(visibleRecords(foldHistory(stillLive, next)).map((r) => r.recordId)).toEqual([S]);
  });

  it('never makes a device time an acceptance: a copy stored without one lends none', () => {
    const legacy = event('e', 1_000); // stored before acceptance times existed
    const restamped = event('e', 500, 9_000);
    const record = [...foldHistory([legacy, restamped]).records.values()][0];
    expect(record.firstAcceptedAt).toBe(9_000);
    const next = compactHistory(EMPTY_COMPRESSED_HISTORY, [legacy, restamped], 5_000);
    expect(next.trails.get(S)!.every((e) => e.acceptedAt === undefined || e.acceptedAt === 9_000)).toBe(true);
  });

  it('refuses a rebuild whose log first accepted the session later than the record was', () => {
    // The original (accepted at 100) is missing from the log; a retry of it, accepted at 250, before the
    // record's last acceptance (300), is there and makes up the count.
    const original = event('a', 1_000, 100);
    const other = event('b', 2_000, 300, 'pause');
    const settled = compactHistory(EMPTY_COMPRESSED_HISTORY, [original, other], 5_000, { settleBefore: 1_000 });
    expect(settled.trails.has(S)).toBe(false);
    const late = event('c', 3_000, 5_000, 'stop');
    const retry = { ...original, acceptedAt: 250 };
    expect(() => withTrailsFromEventLog(settled, [retry, other, late], [S])).toThrow(SettledSessionNotRebuiltError);
    const rebuilt = withTrailsFromEventLog(settled, [original, retry, other, late], [S]);
    expect(rebuilt.records[0]).toMatchObject({ firstAcceptedAt: 100, state: 'stopped' });
  });

  it('needs no rebuild for a cleared settled record: later deliveries only move its first acceptance earlier', () => {
    const settled = compactHistory(EMPTY_COMPRESSED_HISTORY, [event('a', 1_000, 100)], 5_000, { settleBefore: 1_000 });
    const late = event('b', 2_000, 300, 'pause');
    expect(settledSessionsTouched(settled, [late])).toEqual([S]);
    expect(settledSessionsTouched(settled, [late, cleared(200)])).toEqual([]);
    const next = compactHistory(settled, [late, cleared(200)], 5_000);
    expect(next.records).toEqual([]);
  });
});
