import { playbackEvent } from '../testing/viewing-event.fixtures';
import { compactHistory } from './history-compaction';
import { SettledSessionNotRebuiltError, settledSessionsTouched, withTrailsFromEventLog } from './settled-sessions';
import { EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { foldHistory, visibleRecords } from './history-fold';
import { isCompleted } from './viewing-record';

const T0 = Date.parse('2026-01-01T20:00:00Z');
const MIN = 60_000;
const SESSION_2 = '00000000-0000-4000-8000-000000000002';

describe('foldHistory', () => {
  it('turns one session into one record', () => {
    const events = [
      playbackEvent('play', T0, 0, { titleDurationMs: 60 * MIN }),
      playbackEvent('pause', T0 + 10 * MIN, 10 * MIN),
      playbackEvent('play', T0 + 30 * MIN, 10 * MIN),
      playbackEvent('stop', T0 + 35 * MIN, 15 * MIN),
    ];
    const [record] = visibleRecords(foldHistory(events));
    expect(record).toEqual({
      recordId: events[0].playbackSessionId,
      profileId: 'profile-1',
      titleId: 'title-1',
      deviceId: 'device-1',
      startedAt: T0,
      lastEventAt: T0 + 35 * MIN,
      positionMs: 15 * MIN,
      maxPositionMs: 15 * MIN,
      watchedMs: 15 * MIN,
      state: 'stopped',
      titleDurationMs: 60 * MIN,
      firstAcceptedAt: T0,
    });
    expect(isCompleted(record)).toBe(false);
  });

  it('does not count a pause as watching', () => {
    const events = [
      playbackEvent('pause', T0, 0),
      playbackEvent('play', T0 + 60 * MIN, 0),
      playbackEvent('pause', T0 + 61 * MIN, MIN),
    ];
    expect(visibleRecords(foldHistory(events))[0].watchedMs).toBe(MIN);
  });

  it('bounds watched time by wall time on a seek forward and by zero on a seek back', () => {
    const forward = [playbackEvent('play', T0, 0), playbackEvent('pause', T0 + MIN, 40 * MIN)];
    expect(visibleRecords(foldHistory(forward))[0].watchedMs).toBe(MIN);
    const back = [playbackEvent('play', T0, 30 * MIN), playbackEvent('pause', T0 + MIN, 5 * MIN)];
    expect(visibleRecords(foldHistory(back))[0].watchedMs).toBe(0);
  });

  it('marks a record completed once 95% of the title was reached', () => {
    const events = [
      playbackEvent('play', T0, 0, { titleDurationMs: 100 * MIN }),
      playbackEvent('stop', T0 + 95 * MIN, 95 * MIN),
    ];
    expect(isCompleted(visibleRecords(foldHistory(events))[0])).toBe(true);
  });

  it('counts an event delivered twice once, whatever the order', () => {
    const play = playbackEvent('play', T0, 0);
    const pause = playbackEvent('pause', T0 + MIN, MIN);
    const once = visibleRecords(foldHistory([play, pause]));
    expect(visibleRecords(foldHistory([pause, play, pause, play]))).toEqual(once);
  });

  it('takes title and device from the first event of the session', () => {
    const events = [
      playbackEvent('pause', T0 + MIN, MIN, { titleId: 'other', deviceId: 'phone' }),
      playbackEvent('play', T0, 0),
    ];
    const [record] = visibleRecords(foldHistory(events));
    expect([record.titleId, record.deviceId]).toEqual(['title-1', 'device-1']);
  });

  it('lists records newest first', () => {
    const events = [playbackEvent('play', T0, 0), playbackEvent('play', T0 + MIN, 0, { playbackSessionId: SESSION_2 })];
    expect(visibleRecords(foldHistory(events)).map((r) => r.recordId)).toEqual([
      SESSION_2,
      events[0].playbackSessionId,
    ]);
  });

  it('hides a removed record, even from events that arrive after the removal', () => {
    const play = playbackEvent('play', T0, 0);
    const removal = {
      type: 'record-removed' as const,
      eventId: 'r1',
      profileId: 'profile-1',
      occurredAt: T0 + MIN,
      recordId: play.playbackSessionId,
    };
    const later = playbackEvent('stop', T0 + 2 * MIN, MIN);
    expect(visibleRecords(foldHistory([play, removal, later]))).toEqual([]);
  });

  it("hides every record whose session was first accepted at or before the clear's acceptedAt, and keeps later ones", () => {
    const before = playbackEvent('play', T0, 0);
    const after = playbackEvent('play', T0 + 2 * MIN, 0, { playbackSessionId: SESSION_2 });
    const clear = { type: 'history-cleared' as const, eventId: 'c1', profileId: 'profile-1', occurredAt: T0 + MIN };
    expect(visibleRecords(foldHistory([after, clear, before])).map((r) => r.recordId)).toEqual([SESSION_2]);
  });

  it('does not change records that came from a shared compressed history', () => {
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [playbackEvent('play', T0, 0)], T0 + MIN);
    const snapshot = JSON.stringify(compressed);
    foldHistory([playbackEvent('pause', T0 + 2 * MIN, MIN)], compressed);
    expect(JSON.stringify(compressed)).toBe(snapshot);
  });

  it('skips live events already rolled into the compressed history', () => {
    const play = playbackEvent('play', T0, 0);
    const pause = playbackEvent('pause', T0 + MIN, MIN);
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, pause], T0 + 2 * MIN);
    expect(visibleRecords(foldHistory([play, pause], compressed))).toEqual(visibleRecords(foldHistory([play, pause])));
  });
});

describe('compactHistory', () => {
  it('splits a session in the middle and continues it exactly', () => {
    const events = [
      playbackEvent('play', T0, 0, { titleDurationMs: 60 * MIN }),
      playbackEvent('pause', T0 + 10 * MIN, 10 * MIN),
      playbackEvent('play', T0 + 30 * MIN, 10 * MIN),
      playbackEvent('stop', T0 + 35 * MIN, 15 * MIN),
    ];
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, T0 + 20 * MIN);
    expect(compressed.records[0].state).toBe('paused');
    expect(compressed.compactedBefore).toBe(T0 + 20 * MIN);
    const live = events.filter((e) => e.occurredAt >= T0 + 20 * MIN);
    expect(visibleRecords(foldHistory(live, compressed))).toEqual(visibleRecords(foldHistory(events)));
  });

  it('never moves the compacted-before instant backwards', () => {
    const first = compactHistory(EMPTY_COMPRESSED_HISTORY, [playbackEvent('play', T0, 0)], T0 + 10 * MIN);
    expect(compactHistory(first, [], T0).compactedBefore).toBe(T0 + 10 * MIN);
  });

  it('keeps only the id of a deleted record', () => {
    const play = playbackEvent('play', T0, 0);
    const removal = {
      type: 'record-removed' as const,
      eventId: 'r1',
      profileId: 'profile-1',
      occurredAt: T0 + MIN,
      recordId: play.playbackSessionId,
    };
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, removal], T0 + 2 * MIN);
    expect(compressed.records).toEqual([]);
    expect(compressed.removedRecordIds).toEqual([play.playbackSessionId]);
  });

  it('counts a retry re-stamped by the device once, when a compaction splits the pair (§3)', () => {
    const play = playbackEvent('play', T0, 0);
    const pause = playbackEvent('pause', T0 + 10 * MIN, 10 * MIN);
    const restamped = { ...pause, occurredAt: T0 + 25 * MIN, positionMs: 25 * MIN };
    const expected = visibleRecords(foldHistory([play, pause, restamped]));
    expect(expected[0].watchedMs).toBe(10 * MIN);
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, pause, restamped], T0 + 20 * MIN);
    expect(visibleRecords(foldHistory([restamped], compressed))).toEqual(expected);
    // And the other way round: the smaller variant arrives after the larger one was compacted.
    const first = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, restamped], T0 + 30 * MIN);
    expect(visibleRecords(foldHistory([pause], first))).toEqual(expected);
    expect(visibleRecords(foldHistory([], compactHistory(first, [pause], T0 + 30 * MIN)))).toEqual(expected);
  });

  it('hides a record by when its session was first accepted, not by device time (§5)', () => {
    // The device runs 5 minutes ahead: its session "starts" after the clear, but was accepted before it.
    const ahead = playbackEvent('play', T0 + 5 * MIN, 0, { acceptedAt: T0 });
    // Another runs 5 minutes behind: its session "starts" before the clear, but was accepted after it.
    const behind = playbackEvent('play', T0 - 4 * MIN, 0, {
      acceptedAt: T0 + MIN,
      playbackSessionId: SESSION_2,
    });
    const clear = {
      type: 'history-cleared' as const,
      eventId: 'c1',
      profileId: 'profile-1',
      occurredAt: T0 + 30_000,
      acceptedAt: T0 + 30_000,
    };
    expect(visibleRecords(foldHistory([ahead, behind, clear])).map((r) => r.recordId)).toEqual([SESSION_2]);
  });

  it('settles records whose events were all accepted before settleBefore; their late events wait for a rebuild', () => {
    const old = playbackEvent('play', T0, 0, { acceptedAt: T0 });
    const recent = playbackEvent('play', T0 + 50 * MIN, 0, { playbackSessionId: SESSION_2, acceptedAt: T0 + 50 * MIN });
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [old, recent], T0 + 60 * MIN, {
      settleBefore: T0 + 30 * MIN,
    });
    expect(compressed.trails.has(old.playbackSessionId)).toBe(false);
    expect(compressed.trails.get(SESSION_2)).toHaveLength(1);
    expect(compressed.settled).toBe(1);
    // A late event of the settled record is neither counted nor taken as counted: it waits for the rebuild.
    const lateOld = playbackEvent('pause', T0 + MIN, MIN, { acceptedAt: T0 + 70 * MIN });
    const lateRecent = playbackEvent('pause', T0 + 51 * MIN, MIN, { playbackSessionId: SESSION_2 });
    const folded = foldHistory([lateOld, lateRecent], compressed);
    expect(folded.records.get(old.playbackSessionId)!.state).toBe('playing');
    expect(folded.settledSessionsTouched).toEqual([old.playbackSessionId]);
    expect(folded.records.get(SESSION_2)!.state).toBe('paused');
    expect(() => compactHistory(compressed, [lateOld], T0 + 60 * MIN)).toThrow(SettledSessionNotRebuiltError);
    // Rebuilt from the log (which holds the late event too), it is folded exactly, and not settled again
    // while live events touch it.
    const rebuilt = withTrailsFromEventLog(compressed, [recent, lateOld, old], [old.playbackSessionId]);
    const next = compactHistory(rebuilt, [lateOld], T0 + 60 * MIN, { settleBefore: T0 + 60 * MIN });
    const record = next.records.find((r) => r.recordId === old.playbackSessionId)!;
    expect(record).toMatchObject({ state: 'paused', watchedMs: MIN, startedAt: T0 });
    expect(next.trails.get(old.playbackSessionId)).toHaveLength(2);
    expect(settledSessionsTouched(compressed, [lateOld, lateRecent])).toEqual([old.playbackSessionId]);
    expect(() => withTrailsFromEventLog(compressed, [recent], [old.playbackSessionId])).toThrow(
      SettledSessionNotRebuiltError,
    );
  });
});
