import fc from 'fast-check';
import { PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { MIN, profileEvents, sessionIds, shiftOf, steps } from '../testing/history.arbitraries';
import { CompressedHistory, EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { compactHistory } from './history-compaction';
import { settledSessionsTouched, withTrailsFromEventLog } from './settled-sessions';
import { foldHistory, liveRowsOf, needsTrails, visibleRecords } from './history-fold';

// Small pools, so that sessions, event times and compaction cutoffs collide often.
const SESSIONS = sessionIds(4);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const minute = (max: number) => steps(T0, max, MIN);

/** A profile's events with unique ids, plus variants: the same eventId re-stamped with other content. */
const eventsWithVariants = profileEvents({
  sessions: SESSIONS,
  titles: ['title-a', 'title-b'],
  maxEvents: 40,
  playbackAt: minute(120),
  acceptDelay: steps(0, 30, MIN),
  // Removals as late as the cutoffs, so that some arrive after a compaction past their occurredAt.
  removalAt: minute(200),
  clearAt: minute(150),
  variantShift: shiftOf(40, MIN),
  maxVariants: 6,
});

interface Step {
  /** Compact after this many deliveries. */
  after: number;
  cutoff: number;
  /** A crash between the version switch and the range delete: every rolled-up row stays. */
  crashBeforeDelete: boolean;
  /** Settle the records whose events were all accepted before this (ADR 6); none when undefined. */
  settleBefore?: number;
}

/** Deliveries in any order, some events several times; compactions interleaved at random points. */
const scenario = eventsWithVariants.chain((events) =>
  fc.tuple(
    fc.constant(events),
    fc.array(fc.nat(), { maxLength: events.length }).chain((repeats) =>
      fc.shuffledSubarray([...events, ...repeats.map((r) => events[r % events.length])], {
        minLength: events.length + repeats.length,
      }),
    ),
    fc.array(
      fc.record({
        after: fc.nat({ max: 60 }),
        cutoff: minute(150),
        crashBeforeDelete: fc.boolean(),
        settleBefore: fc.option(minute(200), { nil: undefined }),
      }),
      { maxLength: 4 },
    ),
    fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
  ),
);

/** The live table: one row per (occurredAt, eventId), as its primary key; an event written again overwrites. */
const rowKey = (e: ViewingEvent) => `${e.occurredAt}|${e.eventId}`;

/** What a reader sees: live rows folded onto the compressed history, trails loaded only when needed. */
function read(live: Map<string, ViewingEvent>, compressed: CompressedHistory) {
  const rows = [...live.values()];
  const withoutTrails = { ...compressed, trails: undefined };
  const loaded = needsTrails(rows, withoutTrails) ? compressed : withoutTrails;
  return visibleRecords(foldHistory(rows, loaded));
}

describe('invariants 1 and 3: late and repeated events across compactions', () => {
  it('ends with the fold of all distinct events in order, whatever the arrival order and compaction points', () => {
    fc.assert(
      fc.property(scenario, ([events, deliveries, steps, keepRow]) => {
        const expected = visibleRecords(foldHistory(events));
        const live = new Map<string, ViewingEvent>();
        let compressed: CompressedHistory = EMPTY_COMPRESSED_HISTORY;
        const compact = (step: Step, arrived: ViewingEvent[]) => {
          const before = read(live, compressed);
          const rows = [...live.values()];
          // As the compactor does: settled records that live events touch get their trails from the event
          // log (here, what was delivered so far: ingest is not a trail window behind).
          const settled = settledSessionsTouched(compressed, rows);
          const source = withTrailsFromEventLog(compressed, arrived, settled);
          // Settling at any point, even before events accepted earlier arrive: the rebuild takes them in.
          const next = compactHistory(source, rows, step.cutoff, { settleBefore: step.settleBefore });
          // The compactor's up-to-date path: nothing in the newly compacted range and nothing the fold
          // changed, so it writes no version and only removes rows before the old compactedBefore.
          const alreadyCompacted = compressed.compactedBefore ?? Number.NEGATIVE_INFINITY;
          const rolledUp = rows.filter((e) => e.occurredAt >= alreadyCompacted && e.occurredAt < next.compactedBefore!);
          const upToDate = rolledUp.length === 0 && !next.changed && settled.length === 0;
          const deleteBefore = upToDate ? alreadyCompacted : next.compactedBefore!;
          if (!upToDate) compressed = next;
          // Readers during and after compaction see the same records (invariant 3), but for the late
          // events of settled records: readers show those records as stored until this rebuild.
          if (settled.length === 0) expect(read(live, compressed)).toEqual(before);
          if (!step.crashBeforeDelete) {
            // The range delete; some rows written just before it survive (its tombstone is older).
            let i = 0;
            for (const [key, row] of live) {
              if (row.occurredAt < deleteBefore && !keepRow[i++ % keepRow.length]) live.delete(key);
            }
          }
          expect(read(live, compressed)).toEqual(visibleRecords(foldHistory(arrived)));
        };
        deliveries.forEach((event, i) => {
          live.set(rowKey(event), event);
          for (const step of steps) if (step.after === i) compact(step, deliveries.slice(0, i + 1));
        });
        if (settledSessionsTouched(compressed, [...live.values()]).length === 0) {
          expect(read(live, compressed)).toEqual(expected);
        }
        compact({ after: -1, cutoff: T0 + 300 * MIN, crashBeforeDelete: false }, deliveries);
        expect(read(live, compressed)).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('counts a late event once, when compaction first folds it', () => {
    const session = SESSIONS[0];
    const event = (id: string, minutes: number): PlaybackEvent => ({
      eventId: id,
      profileId: 'profile-1',
      playbackSessionId: session,
      titleId: 'title-a',
      deviceId: 'tv',
      type: 'play',
      positionMs: minutes * MIN,
      occurredAt: T0 + minutes * MIN,
      acceptedAt: T0 + minutes * MIN,
    });
    const first = compactHistory(EMPTY_COMPRESSED_HISTORY, [event('a', 10), event('b', 20)], T0 + 60 * MIN);
    expect(first.lateEvents).toBe(0);
    // 'b' is a left-over row (crash before the range delete), 'c' is late.
    const second = compactHistory(first, [event('b', 20), event('c', 5)], T0 + 60 * MIN);
    expect(second.lateEvents).toBe(1);
    expect(second.records[0].startedAt).toBe(T0 + 5 * MIN);
    expect(compactHistory(second, [event('c', 5)], T0 + 60 * MIN).lateEvents).toBe(0);
  });
});

describe('invariant 6: a clear is judged on the service clock, whatever the device clocks', () => {
  const SKEWS = [-5 * MIN, 0, 5 * MIN];
  const sessions = fc.array(
    fc.record({
      acceptedAt: minute(60),
      skew: fc.constantFrom(...SKEWS),
      events: fc.integer({ min: 1, max: 4 }),
    }),
    { minLength: 1, maxLength: 4 },
  );

  it('hides exactly the sessions first accepted at or before the clear, before and after compaction', () => {
    fc.assert(
      fc.property(sessions, minute(60), minute(90), (specs, clearedAt, cutoff) => {
        const events: ViewingEvent[] = [];
        specs.forEach((spec, s) => {
          for (let k = 0; k < spec.events; k++) {
            const acceptedAt = spec.acceptedAt + k * MIN;
            events.push({
              eventId: `00000000-0000-4000-8000-0000000${s}000${k}`,
              profileId: 'profile-1',
              playbackSessionId: SESSIONS[s],
              titleId: 'title-a',
              deviceId: 'tv',
              type: k === 0 ? 'play' : 'pause',
              positionMs: k * MIN,
              // The device clock runs ahead of or behind the service's by `skew`.
              occurredAt: acceptedAt + spec.skew,
              acceptedAt,
            });
          }
        });
        const clear: ViewingEvent = {
          eventId: '00000000-0000-4000-8000-00000000ffff',
          profileId: 'profile-1',
          type: 'history-cleared',
          occurredAt: clearedAt,
          acceptedAt: clearedAt,
        };
        const visible = new Set(specs.flatMap((spec, s) => (spec.acceptedAt > clearedAt ? [SESSIONS[s]] : [])));
        const all = [...events, clear];
        expect(new Set(visibleRecords(foldHistory(all)).map((r) => r.recordId))).toEqual(visible);
        const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, all, cutoff);
        const live = all.filter((e) => e.occurredAt >= compressed.compactedBefore!);
        expect(new Set(visibleRecords(foldHistory(live, compressed)).map((r) => r.recordId))).toEqual(visible);
      }),
      { numRuns: 300 },
    );
  });

  it('folds one row per (occurredAt, eventId), the variant that counts, as it folds every copy (repair)', () => {
    const copies = fc.array(fc.record({ of: fc.nat(), acceptShift: fc.integer({ min: -30, max: 30 }) }), {
      maxLength: 8,
    });
    fc.assert(
      fc.property(eventsWithVariants, copies, (events, extra) => {
        // Re-accepted copies under the same row key: a retry accepted twice, e.g. once before a clear and once after.
        const all = [...events];
        for (const c of events.length ? extra : []) {
          const original = events[c.of % events.length];
          all.push({ ...original, acceptedAt: (original.acceptedAt ?? original.occurredAt) + c.acceptShift * MIN });
        }
        const rows = liveRowsOf(all);
        expect(new Set(rows.map(rowKey)).size).toBe(rows.length);
        expect(visibleRecords(foldHistory(rows))).toEqual(visibleRecords(foldHistory(all)));
      }),
    );
  });
});
