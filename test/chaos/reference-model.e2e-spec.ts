import fc from 'fast-check';
import { continueWatching, foldHistory, isCompleted, ViewingEvent, ViewingRecord, visibleRecords } from '@vh/domain';
import { ModelEvent, RecordView, ReferenceModel } from './reference-model';

/**
 * The checker's own check: on histories compaction never touched (no late events, no compaction),
 * the reference model and the service's fold must agree. Where they disagree in a chaos run, then,
 * the difference comes from the service's machinery (compaction, ingest, reads), not from the model.
 * No I/O: it sits with the chaos checker it checks.
 */
const SESSIONS = [1, 2, 3, 4].map((i) => `00000000-0000-4000-8000-00000000000${i}`);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const time = fc.integer({ min: 0, max: 120 }).map((m) => T0 + m * 60_000);

const playback = fc.record({
  kind: fc.constant('playback' as const),
  type: fc.constantFrom('play' as const, 'pause' as const, 'stop' as const),
  playbackSessionId: fc.constantFrom(...SESSIONS),
  titleId: fc.constantFrom('title-a', 'title-b'),
  deviceId: fc.constantFrom('tv', 'phone'),
  positionMs: fc.integer({ min: 0, max: 120 }).map((s) => s * 30_000),
  occurredAt: time,
  titleDurationMs: fc.option(fc.constantFrom(3_000_000, 3_600_000), { nil: undefined }),
});
const removal = fc.record({
  kind: fc.constant('record-removed' as const),
  recordId: fc.constantFrom(...SESSIONS),
  occurredAt: time,
});
const clear = fc.record({ kind: fc.constant('history-cleared' as const), occurredAt: time });

/** Distinct events, then deliveries: some twice, some re-stamped with the same eventId. */
const deliveries = fc
  .array(
    fc.oneof({ weight: 12, arbitrary: playback }, { weight: 1, arbitrary: removal }, { weight: 1, arbitrary: clear }),
    {
      maxLength: 40,
    },
  )
  .chain((events) =>
    fc.tuple(
      fc.constant(events),
      fc.uniqueArray(fc.uuid(), { minLength: events.length, maxLength: events.length }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: -30, max: 30 })), { maxLength: 10 }),
    ),
  )
  .map(([events, ids, repeats]) => {
    const distinct: ModelEvent[] = events.map(
      // The service's clock, skewed up to five minutes either way from the device's (invariant 6): the
      // clear rule must follow acceptedAt, not occurredAt. A repeat keeps its original's acceptance.
      (e, i) =>
        ({
          ...e,
          eventId: ids[i],
          profileId: 'p',
          acceptedAt: e.occurredAt + ((i * 7_919) % 600_001) - 300_000,
        }) as ModelEvent,
    );
    const out = [...distinct];
    if (distinct.length)
      for (const [at, shift] of repeats) {
        const e = distinct[at % distinct.length];
        out.push({ ...e, occurredAt: e.occurredAt + shift * 60_000 });
      }
    return out;
  });

function toDomain(e: ModelEvent): ViewingEvent {
  const { kind, ...rest } = e as ModelEvent & Record<string, unknown>;
  return { ...rest, type: kind === 'playback' ? (e as { type: string }).type : kind } as ViewingEvent;
}

function view(r: ViewingRecord): RecordView {
  return {
    recordId: r.recordId,
    titleId: r.titleId,
    deviceId: r.deviceId,
    startedAt: new Date(r.startedAt).toISOString(),
    lastEventAt: new Date(r.lastEventAt).toISOString(),
    positionMs: r.positionMs,
    watchedMs: r.watchedMs,
    titleDurationMs: r.titleDurationMs,
    state: r.state,
    completed: isCompleted(r),
  };
}

describe('the chaos reference model', () => {
  it('agrees with the service fold on histories compaction never touched', () => {
    fc.assert(
      fc.property(deliveries, (events) => {
        const model = new ReferenceModel();
        events.forEach((e) => model.add(e));
        const folded = visibleRecords(foldHistory(events.map(toDomain)));
        expect(model.history('p')).toEqual(folded.map(view));
        expect(model.continueWatching('p', 50)).toEqual(continueWatching(folded, 50).map(view));
      }),
      { numRuns: 500 },
    );
  });
});

/** Member controls over four years, so that every auto-delete period begins and ends inside. */
const DAY = 86_400_000;
const spread = fc
  .tuple(fc.integer({ min: 0, max: 1_500 }), fc.integer({ min: 0, max: 600 }))
  .map(([day, minute]) => T0 + day * DAY + minute * 60_000);
const spreadPlayback = playback.chain((e) => spread.map((occurredAt) => ({ ...e, occurredAt })));
const titleRemoved = fc.record({
  kind: fc.constant('title-removed' as const),
  titleId: fc.constantFrom('title-a', 'title-b'),
  occurredAt: spread,
});
const settingsChanged = fc
  .record({
    kind: fc.constant('settings-changed' as const),
    recording: fc.option(fc.constantFrom('on' as const, 'paused' as const), { nil: undefined }),
    autoDelete: fc.option(fc.constantFrom('3m' as const, '18m' as const, '36m' as const, 'never' as const), {
      nil: undefined,
    }),
    occurredAt: spread,
  })
  .map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as typeof e);
const controlled = fc
  .array(
    fc.oneof(
      { weight: 10, arbitrary: spreadPlayback },
      { weight: 1, arbitrary: titleRemoved },
      { weight: 3, arbitrary: settingsChanged },
      { weight: 1, arbitrary: clear.chain((e) => spread.map((occurredAt) => ({ ...e, occurredAt }))) },
    ),
    { maxLength: 40 },
  )
  .chain((events) =>
    fc.tuple(fc.constant(events), fc.uniqueArray(fc.uuid(), { minLength: events.length, maxLength: events.length })),
  )
  .map(([events, ids]) =>
    events.map(
      (e, i) =>
        ({
          ...e,
          eventId: ids[i],
          profileId: 'p',
          // Playback: the device's clock up to three hours off ours; controls: the API's clock.
          acceptedAt: e.kind === 'playback' ? e.occurredAt + ((i * 7_919) % 21_600_001) - 10_800_000 : e.occurredAt,
        }) as ModelEvent,
    ),
  );

describe('the chaos reference model, member controls', () => {
  it('agrees with the service fold on pause, auto-delete and removed titles, at any reader now', () => {
    fc.assert(
      fc.property(controlled, fc.integer({ min: 0, max: 1_700 }), (events, nowDay) => {
        const now = T0 + nowDay * DAY;
        const model = new ReferenceModel();
        events.forEach((e) => model.add(e));
        const folded = visibleRecords(foldHistory(events.map(toDomain)), now);
        expect(model.history('p', now)).toEqual(folded.map(view));
        expect(model.continueWatching('p', 50, now)).toEqual(continueWatching(folded, 50).map(view));
      }),
      { numRuns: 500 },
    );
  });
});
