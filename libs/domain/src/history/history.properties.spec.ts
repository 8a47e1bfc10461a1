import fc from 'fast-check';
import { PLAYBACK_EVENT_TYPES, ViewingEvent } from '../events/viewing-event';
import { EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { compactHistory } from './history-compaction';
import { foldHistory, visibleRecords } from './history-fold';
import { HistoryCursor, pageOfHistory } from './history-query';
import { ViewingRecord } from './viewing-record';

// Small pools, so that sessions, titles and event times collide often.
const SESSIONS = [1, 2, 3, 4, 5].map((i) => `00000000-0000-4000-8000-00000000000${i}`);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const time = fc.integer({ min: 0, max: 200 }).map((minute) => T0 + minute * 60_000);

const playback = fc.record({
  type: fc.constantFrom(...PLAYBACK_EVENT_TYPES),
  playbackSessionId: fc.constantFrom(...SESSIONS),
  titleId: fc.constantFrom('title-a', 'title-b', 'title-c'),
  deviceId: fc.constantFrom('tv', 'phone'),
  positionMs: fc.integer({ min: 0, max: 200 }).map((s) => s * 30_000),
  occurredAt: time,
  titleDurationMs: fc.option(fc.constantFrom(3_000_000, 6_000_000), { nil: undefined }),
});
const removal = fc.record({
  type: fc.constant('record-removed' as const),
  recordId: fc.constantFrom(...SESSIONS),
  occurredAt: time,
});
const clear = fc.record({ type: fc.constant('history-cleared' as const), occurredAt: time });

/** A profile's distinct events; eventIds are unique, as devices make them. */
const history = fc
  .array(
    fc.oneof({ weight: 20, arbitrary: playback }, { weight: 1, arbitrary: removal }, { weight: 1, arbitrary: clear }),
    {
      maxLength: 60,
    },
  )
  .chain((events) =>
    fc.tuple(fc.constant(events), fc.uniqueArray(fc.uuid(), { minLength: events.length, maxLength: events.length })),
  )
  .map(([events, ids]) =>
    events.map((event, i) => {
      const withId = { ...event, eventId: ids[i], profileId: 'profile-1' };
      if ('titleDurationMs' in withId && withId.titleDurationMs === undefined) delete withId.titleDurationMs;
      return withId as ViewingEvent;
    }),
  );

/** The same events delivered again, some of them several times, in any order. */
const redelivered = (events: ViewingEvent[]) =>
  fc.array(fc.nat(), { maxLength: events.length * 2 }).chain((picks) => {
    const withRepeats = events.length ? [...events, ...picks.map((p) => events[p % events.length])] : [];
    return fc.shuffledSubarray(withRepeats, { minLength: withRepeats.length });
  });

const fold = (events: ViewingEvent[]) => visibleRecords(foldHistory(events));

function walk(records: ViewingRecord[], limit: number): ViewingRecord[] {
  const walked: ViewingRecord[] = [];
  let cursor: HistoryCursor | undefined;
  do {
    const page = pageOfHistory(records, { limit, cursor });
    walked.push(...page.records);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return walked;
}

describe('invariant 1: replaying events any number of times, in any order, gives the same history', () => {
  it('is independent of duplicates and of arrival order', () => {
    fc.assert(
      fc.property(
        history.chain((events) => fc.tuple(fc.constant(events), redelivered(events))),
        ([events, delivered]) => {
          expect(fold(delivered)).toEqual(fold(events));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('resolves two events that share an eventId but differ the same way in any order', () => {
    fc.assert(
      fc.property(history, fc.nat(), fc.nat(), (events, i, shift) => {
        fc.pre(events.length > 1);
        const clash = { ...events[(i + 1) % events.length], eventId: events[i % events.length].eventId };
        const forward = [...events, clash];
        const backward = [clash, ...[...events].reverse()];
        const rotated = forward.map((_, k) => forward[(k + shift) % forward.length]);
        expect(fold(backward)).toEqual(fold(forward));
        expect(fold(rotated)).toEqual(fold(forward));
      }),
      { numRuns: 200 },
    );
  });
});

describe('invariant 3: compaction is invisible to readers', () => {
  it('reads the same records for any sequence of compactions, with left-over or replayed live rows', () => {
    const scenario = history.chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.array(time, { maxLength: 3 }).map((cutoffs) => cutoffs.sort((a, b) => a - b)),
        fc.array(fc.boolean(), { minLength: events.length, maxLength: events.length }),
      ),
    );
    fc.assert(
      fc.property(scenario, ([events, cutoffs, leftOver]) => {
        const expected = fold(events);
        let compressed = EMPTY_COMPRESSED_HISTORY;
        let live = events;
        for (const cutoff of cutoffs) {
          compressed = compactHistory(compressed, live, cutoff);
          // A crash before the range delete, or a replay, can leave rolled-up rows in the live table.
          live = events.filter((e, k) => e.occurredAt >= compressed.compactedBefore! || leftOver[k]);
          // Readers during compaction: before the switch they see the old version and all rows.
          expect(visibleRecords(foldHistory(live, compressed))).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('pages through the same records before and after compaction, for every page size', () => {
    fc.assert(
      fc.property(history, time, fc.integer({ min: 1, max: 12 }), (events, cutoff, limit) => {
        const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, events, cutoff);
        const live = events.filter((e) => e.occurredAt >= cutoff);
        const before = walk(fold(events), limit);
        expect(walk(visibleRecords(foldHistory(live, compressed)), limit)).toEqual(before);
        expect(before).toEqual(fold(events));
      }),
      { numRuns: 300 },
    );
  });
});
