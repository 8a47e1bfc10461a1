import fc from 'fast-check';
import { PLAYBACK_EVENT_TYPES, ViewingEvent } from '../events/viewing-event';
import {
  historyCleared,
  settingsChanged as settingsChangedAt,
  titleRemoved as titleRemovedAt,
} from '../testing/history.arbitraries';
import { EMPTY_COMPRESSED_HISTORY } from '../history/compressed-history';
import { compactHistory } from '../history/history-compaction';
import { foldHistory, visibleRecords } from '../history/history-fold';
import { continueWatching } from '../history/history-query';
import { currentSettings, hiddenForGood } from './member-controls';

// Four years of days, so that every auto-delete period (3, 18, 36 months) starts and ends inside.
const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const DAYS = 1_500;
/** As COMPACTION_MIN_AGE_MS by default: compaction rolls up what is older than this. */
const MIN_AGE = 14 * DAY;
const TITLES = ['title-a', 'title-b', 'title-c'];

/**
 * A playback session: a few events within a day, on one device whose clock is off by up to 3 hours
 * (acceptedAt is the service's receive time). Sessions never span months: see the known limit in
 * docs/architecture.md ("Member controls").
 */
const sessionWithin = (days: number, lateDays: fc.Arbitrary<number>) =>
  fc
    .record({
      playbackSessionId: fc.uuid(),
      titleId: fc.constantFrom(...TITLES),
      day: fc.integer({ min: 0, max: days }),
      // A late session (offline playback, a backlog): the service accepts it days after the device's time.
      skewMs: fc
        .tuple(fc.integer({ min: -3 * HOUR, max: 3 * HOUR }), lateDays)
        .map(([skew, late]) => skew + late * DAY),
      steps: fc.array(
        fc.record({ type: fc.constantFrom(...PLAYBACK_EVENT_TYPES), minutes: fc.integer({ min: 0, max: 600 }) }),
        { minLength: 1, maxLength: 4 },
      ),
    })
    .map(({ playbackSessionId, titleId, day, skewMs, steps }) =>
      steps.map((step, i): ViewingEvent => ({
        eventId: `00000000-0000-4000-8000-${String(i).padStart(4, '0')}${playbackSessionId.slice(-8)}`,
        profileId: 'profile-1',
        type: step.type,
        playbackSessionId,
        titleId,
        deviceId: 'tv',
        positionMs: step.minutes * 60_000,
        occurredAt: T0 + day * DAY + step.minutes * 60_000,
        acceptedAt: T0 + day * DAY + step.minutes * 60_000 + skewMs,
      })),
    );
const session = sessionWithin(DAYS, fc.constant(0));

/** Controls put on the log by the API: one clock, the API's (occurredAt = acceptedAt). */
const apiTime = fc.integer({ min: 0, max: DAYS * 24 }).map((hour) => T0 + hour * HOUR + 1);
const settingsChanged = settingsChangedAt(apiTime);
const titleRemoved = titleRemovedAt(apiTime, TITLES);
const cleared = historyCleared(apiTime);

const profileEvents = fc
  .tuple(
    fc.array(session, { maxLength: 10 }),
    fc.array(settingsChanged, { maxLength: 6 }),
    fc.array(titleRemoved, { maxLength: 2 }),
    fc.array(cleared, { maxLength: 1 }),
  )
  .map(([sessions, settings, titles, clears]) => [...sessions.flat(), ...settings, ...titles, ...clears]);

/** The same events again, some several times, in any order. */
const redelivered = (events: ViewingEvent[]) =>
  fc.array(fc.nat(), { maxLength: events.length * 2 }).chain((picks) => {
    const withRepeats = events.length ? [...events, ...picks.map((p) => events[p % events.length])] : [];
    return fc.shuffledSubarray(withRepeats, { minLength: withRepeats.length });
  });

const readerNow = fc.integer({ min: 0, max: DAYS + 200 }).map((day) => T0 + day * DAY);

describe('member controls, invariant 1: any order, any repeats, the same history and settings', () => {
  it('hides the same records and gives the same settings whatever the arrival', () => {
    fc.assert(
      fc.property(
        profileEvents.chain((events) => fc.tuple(fc.constant(events), redelivered(events), readerNow)),
        ([events, delivered, now]) => {
          const expected = foldHistory(events);
          const actual = foldHistory(delivered);
          expect(visibleRecords(actual, now)).toEqual(visibleRecords(expected, now));
          expect(continueWatching(visibleRecords(actual, now), 10)).toEqual(
            continueWatching(visibleRecords(expected, now), 10),
          );
          expect(currentSettings(actual.controls)).toEqual(currentSettings(expected.controls));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('member controls, invariant 3: compaction at any split point reads the same', () => {
  it('reads the same records before, during and after any sequence of compactions', () => {
    const scenario = profileEvents.chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.array(fc.integer({ min: 0, max: DAYS }), { maxLength: 3 }).map((days) => days.sort((a, b) => a - b)),
        fc.integer({ min: 0, max: 400 }),
      ),
    );
    fc.assert(
      fc.property(scenario, ([events, cutoffDays, readAfterDays]) => {
        // Compaction runs at cutoff + MIN_AGE (its now); readers read at or after the last run.
        const compactions = cutoffDays.map((day) => ({ cutoff: T0 + day * DAY, now: T0 + day * DAY + MIN_AGE }));
        const now = (compactions[compactions.length - 1]?.now ?? T0) + readAfterDays * DAY;
        const expected = visibleRecords(foldHistory(events), now);
        let compressed = EMPTY_COMPRESSED_HISTORY;
        let live = events;
        for (const run of compactions) {
          compressed = compactHistory(compressed, live, run.cutoff, { now: run.now });
          // During: before the range delete every row is still there; after it, only the newer ones.
          expect(visibleRecords(foldHistory(live, compressed), now)).toEqual(expected);
          live = events.filter((e) => e.occurredAt >= compressed.compactedBefore!);
          expect(visibleRecords(foldHistory(live, compressed), now)).toEqual(expected);
        }
        expect(currentSettings(foldHistory(live, compressed).controls)).toEqual(
          currentSettings(foldHistory(events).controls),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('keeps nothing the controls hide for good once compaction has run after they hid it', () => {
    fc.assert(
      fc.property(profileEvents, fc.integer({ min: 0, max: DAYS }), (events, day) => {
        const now = T0 + day * DAY + MIN_AGE;
        const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, T0 + day * DAY, { now });
        // Physically: no stored record is one the controls hide for good at the compaction's instant; those
        // they hide since compactedBefore stay as hidden records (a control accepted earlier may come).
        for (const record of compressed.records) {
          expect(hiddenForGood(record, compressed.controls!, now, compressed.compactedBefore!)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('member controls, invariants 1 and 3: controls stored after a compaction that judged by them', () => {
  // A few months, so that late sessions, pauses, resumes, periods and compaction cutoffs meet often.
  const WINDOW_DAYS = 240;
  const windowTime = fc.integer({ min: 0, max: WINDOW_DAYS * 24 }).map((hour) => T0 + hour * HOUR + 1);
  const events = fc
    .tuple(
      fc.array(sessionWithin(200, fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 }))), { maxLength: 8 }),
      // Distinct acceptances: two settings accepted in one millisecond, one stored late, is the one case
      // hiddenForGood does not wait for (a record older than a period when it is set goes at once).
      fc
        .array(settingsChangedAt(windowTime), { maxLength: 6 })
        .map((changes) =>
          changes.map((c, i) => ({ ...c, occurredAt: c.occurredAt + i, acceptedAt: c.occurredAt + i })),
        ),
      fc.array(titleRemovedAt(windowTime, TITLES), { maxLength: 1 }),
      fc.array(historyCleared(windowTime), { maxLength: 1 }),
    )
    .map(([sessions, settings, titles, clears]) => [...sessions.flat(), ...settings, ...titles, ...clears]);
  const scenario = events.chain((all) =>
    fc.tuple(
      fc.constant(all),
      redelivered(all),
      fc.array(fc.record({ after: fc.nat({ max: 3 * all.length }), day: fc.integer({ min: 0, max: WINDOW_DAYS }) }), {
        maxLength: 4,
      }),
      fc.integer({ min: 0, max: 200 }),
    ),
  );
  const acceptance = (e: ViewingEvent) => e.acceptedAt ?? e.occurredAt;

  it('ends with the fold of all events in order, whatever is stored between compactions', () => {
    fc.assert(
      fc.property(scenario, ([all, delivered, steps, readAfterDays]) => {
        // Compactions run in time order: cutoffs ascending with the delivery points, each at cutoff + MIN_AGE.
        const days = steps.map((s) => s.day).sort((a, b) => a - b);
        const runs = steps
          .map((s) => s.after)
          .sort((a, b) => a - b)
          .map((after, i) => ({ after, cutoff: T0 + days[i] * DAY, now: T0 + days[i] * DAY + MIN_AGE }));
        const live = new Map<string, ViewingEvent>();
        const pending = new Set(delivered.keys());
        const store = (i: number) => {
          pending.delete(i);
          live.set(`${delivered[i].occurredAt}|${delivered[i].eventId}`, delivered[i]);
        };
        const stored = () => delivered.filter((_, i) => !pending.has(i));
        let compressed = EMPTY_COMPRESSED_HISTORY;
        const read = (now: number) => visibleRecords(foldHistory([...live.values()], compressed), now);
        const compact = (run: { cutoff: number; now: number }) => {
          // ADR 8: what was accepted before compactedBefore is stored by the time compaction runs (a control
          // later than that is a late control, the known limit); anything accepted since may come later.
          const horizon = Math.max(run.cutoff, compressed.compactedBefore ?? run.cutoff);
          for (const i of [...pending]) if (acceptance(delivered[i]) < horizon) store(i);
          compressed = compactHistory(compressed, [...live.values()], run.cutoff, { now: run.now });
          for (const [key, row] of live) if (row.occurredAt < compressed.compactedBefore!) live.delete(key);
          expect(read(run.now)).toEqual(visibleRecords(foldHistory(stored()), run.now));
        };
        for (let i = 0; i < delivered.length; i++) {
          for (const run of runs) if (run.after === i) compact(run);
          if (pending.has(i)) store(i);
        }
        for (const run of runs) if (run.after >= delivered.length) compact(run);
        const now = (runs[runs.length - 1]?.now ?? T0) + readAfterDays * DAY;
        expect(read(now)).toEqual(visibleRecords(foldHistory(all), now));
      }),
      { numRuns: 1000 },
    );
  });
});
