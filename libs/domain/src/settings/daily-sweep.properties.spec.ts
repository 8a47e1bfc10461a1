import fc from 'fast-check';
import { acceptanceOf, PLAYBACK_EVENT_TYPES, SettingsChangedEvent, ViewingEvent } from '../events/viewing-event';
import { settingsChanged as settingsChangedAt } from '../testing/history.arbitraries';
import { EMPTY_COMPRESSED_HISTORY } from '../history/compressed-history';
import { compactHistory } from '../history/history-compaction';
import { foldHistory } from '../history/history-fold';
import { hiddenForGood, recordingAt } from './member-controls';
import {
  erasedSince,
  erasedSinceSwitch,
  pausesFinishedBy,
  pausesOf,
  recordingOnFrom,
  settingsNamedForDailySweep,
  visitedDaily,
} from './daily-sweep';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const DAYS = 200;
/** As COMPACTION_MIN_AGE_MS by default. */
const MIN_AGE = 14 * DAY;

/** A session of a few events; accepted up to `lateDays` after the device's time, by a device clock off by hours. */
const session = (lateDays: number) =>
  fc
    .record({
      playbackSessionId: fc.uuid(),
      day: fc.integer({ min: 0, max: DAYS }),
      skewMs: fc
        .tuple(fc.integer({ min: -3 * HOUR, max: 3 * HOUR }), fc.integer({ min: 0, max: lateDays }))
        .map(([skew, late]) => skew + late * DAY),
      steps: fc.array(
        fc.record({ type: fc.constantFrom(...PLAYBACK_EVENT_TYPES), minutes: fc.integer({ min: 0, max: 600 }) }),
        { minLength: 1, maxLength: 3 },
      ),
    })
    .map(({ playbackSessionId, day, skewMs, steps }) =>
      steps.map((step, i): ViewingEvent => ({
        eventId: `00000000-0000-4000-8000-${String(i).padStart(4, '0')}${playbackSessionId.slice(-8)}`,
        profileId: 'profile-1',
        type: step.type,
        playbackSessionId,
        titleId: 'title-a',
        deviceId: 'tv',
        positionMs: step.minutes * 60_000,
        occurredAt: T0 + day * DAY + step.minutes * 60_000,
        acceptedAt: T0 + day * DAY + step.minutes * 60_000 + skewMs,
      })),
    );

const apiTime = fc.integer({ min: 0, max: DAYS * 24 }).map((hour) => T0 + hour * HOUR + 1);
/** Pauses and resumes mostly, so that both finished and unfinished profiles come up. */
const recordingChange = settingsChangedAt(apiTime).map((event) =>
  event.type === 'settings-changed' && event.recording === undefined
    ? { ...event, recording: 'paused' as const }
    : event,
);
const profileEvents = fc
  .tuple(fc.array(session(20), { maxLength: 8 }), fc.array(recordingChange, { minLength: 1, maxLength: 5 }))
  .map(([sessions, settings]) => [...sessions.flat(), ...settings]);
const instant = fc.integer({ min: -10, max: DAYS + 40 }).map((day) => T0 + day * DAY);

/** What the compactor passes after one compaction of every event at `cutoff` (its now: cutoff + MIN_AGE). */
function compactionAt(events: ViewingEvent[], cutoff: number, from = EMPTY_COMPRESSED_HISTORY) {
  const next = compactHistory(from, events, cutoff, { now: cutoff + MIN_AGE });
  const left = events.filter((e) => e.occurredAt >= next.compactedBefore!);
  const finished = pausesFinishedBy({
    controls: next.controls!,
    compactedBefore: next.compactedBefore!,
    records: next.records,
    liveAcceptances: left.filter((e) => 'playbackSessionId' in e).map(acceptanceOf),
  });
  return { next, left, finished };
}

describe('pausesFinishedBy: when a profile that paused leaves the daily sweep (ADR 8)', () => {
  it('finishes all the pauses or none, and only once recording is on from compactedBefore on', () => {
    fc.assert(
      fc.property(profileEvents, instant, fc.array(instant, { maxLength: 5 }), (events, cutoff, later) => {
        const { next, finished } = compactionAt(events, cutoff);
        const pauses = pausesOf(next.controls!);
        expect(finished.length === 0 || finished.length === pauses.length).toBe(true);
        if (finished.length === 0) return;
        for (const t of [...later, next.compactedBefore!]) {
          if (t >= next.compactedBefore!) expect(recordingAt(next.controls!, t)).toBe('on');
        }
        // No record the version keeps was first accepted while paused.
        for (const record of next.records) expect(recordingAt(next.controls!, record.firstAcceptedAt)).toBe('on');
      }),
      { numRuns: 400 },
    );
  });

  it('is exact: every pause ended before compactedBefore, and nothing kept or left started while paused', () => {
    fc.assert(
      fc.property(profileEvents, instant, (events, cutoff) => {
        const { next, left, finished } = compactionAt(events, cutoff);
        const paused = (t: number) => recordingAt(next.controls!, t) === 'paused';
        const expected =
          pausesOf(next.controls!).length > 0 &&
          recordingOnFrom(next.controls!, next.compactedBefore!) &&
          !next.records.some((r) => paused(r.firstAcceptedAt)) &&
          !left.some((e) => 'playbackSessionId' in e && paused(acceptanceOf(e)));
        expect(finished.length > 0).toBe(expected);
      }),
      { numRuns: 400 },
    );
  });

  // The safety the daily sweep is kept for: once the pauses are finished, a session they hide never stays stored
  // after a compaction rolled its rows up, whatever arrives late (events of known sessions, new sessions accepted
  // while paused); only sessions with rows still live stay, and their activity rows bring the next compaction.
  it('after a compaction that finished them, no later compaction keeps a session the pauses hide, once its rows are rolled up', () => {
    fc.assert(
      fc.property(
        profileEvents,
        instant,
        fc.array(session(40), { maxLength: 6 }),
        fc.integer({ min: 0, max: 60 }),
        (events, cutoff, late, afterDays) => {
          const first = compactionAt(events, cutoff);
          fc.pre(first.finished.length > 0);
          const live = [...first.left, ...late.flat()];
          const second = compactHistory(first.next, live, cutoff + afterDays * DAY, { now: cutoff + afterDays * DAY });
          const stillLive = new Set(
            live
              .filter((e) => 'playbackSessionId' in e && e.occurredAt >= second.compactedBefore!)
              .map((e) => (e as { playbackSessionId: string }).playbackSessionId),
          );
          for (const record of second.records) {
            if (recordingAt(second.controls!, record.firstAcceptedAt) === 'paused') {
              expect(stillLive.has(record.recordId)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('any record the finished pauses hide is hidden for good at every later compactedBefore', () => {
    fc.assert(
      fc.property(profileEvents, instant, session(40), instant, (events, cutoff, extra, later) => {
        const { next, finished } = compactionAt(events, cutoff);
        fc.pre(finished.length > 0);
        const record = foldHistory(extra, { ...EMPTY_COMPRESSED_HISTORY, controls: next.controls! })
          .records.values()
          .next().value!;
        if (recordingAt(next.controls!, record.firstAcceptedAt) !== 'paused') return;
        const decidedBefore = Math.max(later, next.compactedBefore!);
        expect(hiddenForGood(record, next.controls!, decidedBefore, decidedBefore)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('a pause accepted at or after compactedBefore, or one the compaction did not read, is never finished', () => {
    fc.assert(
      fc.property(profileEvents, instant, fc.integer({ min: 0, max: 30 * DAY }), (events, cutoff, after) => {
        const { next } = compactionAt(events, cutoff);
        const again: SettingsChangedEvent = {
          type: 'settings-changed',
          eventId: '00000000-0000-4000-9000-00000000ffff',
          profileId: 'profile-1',
          recording: 'paused',
          occurredAt: next.compactedBefore! + after,
          acceptedAt: next.compactedBefore! + after,
        };
        const withIt = compactHistory(next, [again], cutoff, { now: cutoff + MIN_AGE });
        expect(
          pausesFinishedBy({
            controls: withIt.controls!,
            compactedBefore: withIt.compactedBefore!,
            records: withIt.records,
            liveAcceptances: [],
          }),
        ).toEqual([]);
        // Not read: whatever this compaction finishes, it names only the pauses it read.
        const { finished } = compactionAt(events, cutoff);
        expect(finished).not.toContain(again.eventId);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the profile while the version holds a hidden record started while paused (its session still has live rows)', () => {
    const pauseAt = T0 + 10 * DAY;
    const settings = (eventId: string, at: number, recording: 'paused' | 'on'): SettingsChangedEvent => ({
      type: 'settings-changed',
      eventId,
      profileId: 'profile-1',
      recording,
      occurredAt: at,
      acceptedAt: at,
    });
    const play = (eventId: string, at: number): ViewingEvent => ({
      eventId,
      profileId: 'profile-1',
      type: 'play',
      playbackSessionId: '00000000-0000-4000-8000-00000000aaaa',
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: at,
      acceptedAt: at,
    });
    const events = [
      settings('00000000-0000-4000-9000-000000000001', pauseAt, 'paused'),
      play('00000000-0000-4000-8000-000000000001', pauseAt + HOUR),
      settings('00000000-0000-4000-9000-000000000002', pauseAt + 2 * HOUR, 'on'),
      play('00000000-0000-4000-8000-000000000002', pauseAt + 10 * HOUR),
    ];
    // Cut through the session: its record is kept whole (a row of it stays live), hidden, not for good.
    const { next, finished } = compactionAt(events, pauseAt + 5 * HOUR);
    expect(next.records).toHaveLength(1);
    expect(finished).toEqual([]);
    // Once its last row is rolled up, it goes for good and the pause is finished.
    expect(compactionAt(events, pauseAt + 11 * HOUR).finished).toEqual(['00000000-0000-4000-9000-000000000001']);
  });

  it('depends only on the controls read, not on their order or repeats (invariant 1)', () => {
    fc.assert(
      fc.property(
        profileEvents.chain((events) => fc.tuple(fc.constant(events), fc.shuffledSubarray([...events, ...events]))),
        instant,
        ([events, delivered], cutoff) => {
          const missing = events.some((e) => !delivered.some((d) => d.eventId === e.eventId));
          fc.pre(!missing);
          expect(compactionAt(delivered, cutoff).finished.sort()).toEqual(compactionAt(events, cutoff).finished.sort());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('visitedDaily: the daily sweep reads the row as the union of every note, in any order', () => {
  const id = fc.constantFrom('s1', 's2', 's3', 's4', 's5');
  /**
   * The writers of a row: ingest noting a pause or a period (named), a compaction noting the pauses it finished,
   * a compaction's late note marking settings erased (never none).
   */
  const write = fc.oneof(
    fc.record({ kind: fc.constant('period' as const), id }),
    fc.record({ kind: fc.constant('pause' as const), id }),
    fc.record({ kind: fc.constant('finish' as const), ids: fc.uniqueArray(id, { minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('erased' as const), ids: fc.uniqueArray(id, { minLength: 1, maxLength: 4 }) }),
  );
  type Write =
    | { kind: 'period'; id: string }
    | { kind: 'pause'; id: string }
    | { kind: 'finish'; ids: string[] }
    | { kind: 'erased'; ids: string[] };
  const row = (writes: readonly Write[]) => {
    const note = { reasons: new Set<string>(), pauses: new Set<string>(), pausesFinished: new Set<string>() };
    const periods = new Set<string>();
    const erased = new Set<string>();
    for (const w of writes) {
      if (w.kind === 'period') {
        note.reasons.add('auto-delete');
        periods.add(w.id);
      } else if (w.kind === 'pause') {
        note.reasons.add('paused');
        note.pauses.add(w.id);
      } else if (w.kind === 'finish') {
        for (const i of w.ids) note.pauses.add(i);
        for (const i of w.ids) note.pausesFinished.add(i);
      } else for (const i of w.ids) erased.add(i);
    }
    return {
      reasons: [...note.reasons],
      pauses: [...note.pauses],
      pausesFinished: [...note.pausesFinished],
      periods: [...periods],
      erased: [...erased],
    };
  };
  const apply = (writes: readonly Write[]) => visitedDaily(row(writes));
  const legacy = { pauses: [], pausesFinished: [], periods: [], erased: [] };

  it('is the same whatever the order, and visits exactly while a period is not erased or a pause neither finished nor erased', () => {
    fc.assert(
      fc.property(
        fc
          .array(write, { minLength: 1, maxLength: 8 })
          .chain((ws) => fc.tuple(fc.constant(ws), fc.shuffledSubarray(ws, { minLength: ws.length }))),
        ([writes, reordered]) => {
          expect(apply(reordered)).toBe(apply(writes));
          const of = (kind: 'finish' | 'erased') =>
            new Set(writes.flatMap((w) => (w.kind === kind ? (w as { ids: string[] }).ids : [])));
          const [finished, erased] = [of('finish'), of('erased')];
          const expected =
            writes.some((w) => w.kind === 'period' && !erased.has(w.id)) ||
            writes.some((w) => w.kind === 'pause' && !finished.has(w.id) && !erased.has(w.id));
          expect(apply(writes)).toBe(expected);
        },
      ),
    );
  });

  // A compactor stalled between its switch and its note writes, when it wakes, only the pauses it read: a pause
  // noted since (a member who paused again) keeps the profile in the sweep, whichever write lands last. Likewise a
  // note marking an erased history's settings leaves the new history's (other eventIds) in force.
  it('a late note never finishes or erases a setting noted after its read', () => {
    expect(
      apply([
        { kind: 'pause', id: 's1' },
        { kind: 'pause', id: 's2' },
        { kind: 'finish', ids: ['s1'] },
      ]),
    ).toBe(true);
    expect(
      apply([
        { kind: 'pause', id: 's1' },
        { kind: 'finish', ids: ['s1'] },
      ]),
    ).toBe(false);
    const erasedHistory: Write[] = [
      { kind: 'pause', id: 's1' },
      { kind: 'period', id: 's2' },
      { kind: 'erased', ids: ['s1', 's2'] },
    ];
    expect(apply(erasedHistory)).toBe(false);
    expect(apply([...erasedHistory, { kind: 'period', id: 's3' }])).toBe(true);
    expect(apply([{ kind: 'pause', id: 's4' }, ...erasedHistory])).toBe(true);
  });

  it('rows from before settings were named are visited as before: none at all is auto-delete’s (migration 8)', () => {
    expect(visitedDaily({ reasons: [], ...legacy })).toBe(true);
    expect(visitedDaily({ reasons: ['paused'], ...legacy })).toBe(true);
    expect(visitedDaily({ reasons: ['auto-delete'], ...legacy })).toBe(true);
    // An unnamed reason beside named settings (an older process, migration 10's backfill): visited until named.
    expect(
      visitedDaily({ ...legacy, reasons: ['auto-delete', 'paused'], pauses: ['s1'], pausesFinished: ['s1'] }),
    ).toBe(true);
    expect(visitedDaily({ ...legacy, reasons: ['paused'], pauses: ['s1'], pausesFinished: ['s1'] })).toBe(false);
    // Only a compaction's note of finished pauses (written after an erasure deleted the row): not visited.
    expect(visitedDaily({ ...legacy, reasons: [], pauses: ['s1'], pausesFinished: ['s1'] })).toBe(false);
  });
});

describe('pausesFinishedBy: the live rows it left', () => {
  // Review of issue 15, finding 6: a row the compaction leaves live (device time at or after compactedBefore) may
  // have been accepted while paused (a device clock ahead): its record is not yet in the version, so only the
  // live acceptances tell that a pause still hides a session to be removed.
  it('refuses to finish while a live row it left was accepted while paused, whatever its device time', () => {
    const pause: SettingsChangedEvent = {
      type: 'settings-changed',
      eventId: '00000000-0000-4000-9000-000000000001',
      profileId: 'profile-1',
      recording: 'paused',
      occurredAt: T0 + 10 * DAY,
      acceptedAt: T0 + 10 * DAY,
    };
    const resume: SettingsChangedEvent = {
      ...pause,
      eventId: '00000000-0000-4000-9000-000000000002',
      recording: 'on',
      occurredAt: T0 + 20 * DAY,
      acceptedAt: T0 + 20 * DAY,
    };
    const cutoff = T0 + 30 * DAY;
    const play: ViewingEvent = {
      eventId: '00000000-0000-4000-8000-000000000003',
      profileId: 'profile-1',
      type: 'play',
      playbackSessionId: '00000000-0000-4000-8000-0000000000aa',
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: cutoff + HOUR, // the device's clock, ahead: left live by the compaction
      acceptedAt: T0 + 15 * DAY, // accepted while paused
    };
    const { next, left, finished } = compactionAt([pause, resume, play], cutoff);
    expect(next.compactedBefore).toBeLessThanOrEqual(play.occurredAt);
    expect(left).toContain(play);
    expect(next.records).toEqual([]);
    expect(finished).toEqual([]);
    // Without that row the same compaction finishes the pause: the live acceptances alone refused it.
    expect(compactionAt([pause, resume], cutoff).finished).toEqual([pause.eventId]);
  });
});

describe('erasedSinceSwitch: what a compaction’s note marks erased after its switch', () => {
  const pause: SettingsChangedEvent = {
    type: 'settings-changed',
    eventId: '00000000-0000-4000-9000-000000000001',
    profileId: 'profile-1',
    recording: 'paused',
    occurredAt: T0,
    acceptedAt: T0,
  };
  const named = { pauses: [pause.eventId], periods: ['period-1'] };
  const controls = foldHistory([pause]).controls;
  const empty = foldHistory([]).controls;

  // Review of issue 15, finding 1: at consistency ONE the version read after the switch may come from a replica
  // the switch has not reached (none, or an older version): that is no erasure, and must mark nothing.
  it('marks nothing on a stale read: no version, or one not newer than the switched one', () => {
    expect(erasedSinceSwitch(named, 1, null)).toEqual([]);
    expect(erasedSinceSwitch(named, 3, { version: 2, controls: empty })).toEqual([]);
    expect(erasedSinceSwitch(named, 3, { version: 3, controls })).toEqual([]);
  });

  it('marks what a newer version (an erasure’s) no longer holds', () => {
    expect(erasedSinceSwitch(named, 3, { version: 4, controls: empty }).sort()).toEqual(
      [pause.eventId, 'period-1'].sort(),
    );
    expect(erasedSinceSwitch(named, 3, { version: 4, controls })).toEqual(['period-1']);
  });
});

describe('erasedSince: what a late note named that the current controls no longer hold', () => {
  it('names exactly the noted settings missing from the current controls', () => {
    fc.assert(
      fc.property(profileEvents, fc.array(recordingChange, { maxLength: 3 }), (events, newHistory) => {
        const before = foldHistory(events).controls;
        const named = settingsNamedForDailySweep(before);
        // Nothing is erased while the controls still hold them (they only grow otherwise).
        expect(erasedSince(named, foldHistory([...events, ...newHistory]).controls)).toEqual([]);
        // After an erasure the current controls are the new history's only: everything named is erased.
        const after = foldHistory(newHistory).controls;
        const held = new Set(after.settingsChanges.map((c) => c.eventId));
        expect(erasedSince(named, after).sort()).toEqual(
          [...named.pauses, ...named.periods].filter((i) => !held.has(i)).sort(),
        );
      }),
      { numRuns: 200 },
    );
  });
});
