import fc from 'fast-check';
import {
  continueWatching,
  currentSettings,
  EMPTY_MEMBER_CONTROLS,
  foldHistory,
  isCompleted,
  SettingsChangedEvent,
  settingsChangeOf,
  ViewingEvent,
  ViewingRecord,
  visibleRecords,
  withControlEvents,
} from '@vh/domain';
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
    fc.tuple(
      fc.constant(events),
      fc.uniqueArray(fc.uuid(), { minLength: events.length, maxLength: events.length }),
      // Deliveries again, as the chaos workload sends them: the same event or re-stamped earlier by the
      // device, accepted again before or after the first copy (a pause may lie between the two).
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: -30, max: 0 }), fc.integer({ min: -600, max: 600 })), {
        maxLength: 8,
      }),
    ),
  )
  .map(([events, ids, repeats]) => {
    const distinct = events.map(
      (e, i) =>
        ({
          ...e,
          eventId: ids[i],
          profileId: 'p',
          // Playback: the device's clock up to three hours off ours; controls: the API's clock.
          acceptedAt: e.kind === 'playback' ? e.occurredAt + ((i * 7_919) % 21_600_001) - 10_800_000 : e.occurredAt,
        }) as ModelEvent,
    );
    const playbacks = distinct.filter((e) => e.kind === 'playback');
    const copies = playbacks.length
      ? repeats.map(([at, shift, later]) => {
          const e = playbacks[at % playbacks.length];
          return { ...e, occurredAt: e.occurredAt + shift * 60_000, acceptedAt: e.acceptedAt + later * 60_000 };
        })
      : [];
    return [...distinct, ...copies];
  });

describe('the chaos reference model, member controls', () => {
  it('agrees with the service fold on pause, auto-delete, removed titles and settings, at any reader now', () => {
    fc.assert(
      fc.property(controlled, fc.integer({ min: 0, max: 1_700 }), (events, nowDay) => {
        const now = T0 + nowDay * DAY;
        const model = new ReferenceModel();
        events.forEach((e) => model.add(e));
        const folded = visibleRecords(foldHistory(events.map(toDomain)), now);
        expect(model.history('p', now)).toEqual(folded.map(view));
        expect(model.continueWatching('p', 50, now)).toEqual(continueWatching(folded, 50).map(view));
        const changes = events
          .filter((e) => e.kind === 'settings-changed')
          .map((e) => settingsChangeOf(toDomain(e) as SettingsChangedEvent));
        const { recording, autoDelete } = currentSettings(withControlEvents(EMPTY_MEMBER_CONTROLS, changes));
        expect(model.settings('p')).toEqual({ recording, autoDelete });
      }),
      { numRuns: 500 },
    );
  });
});

/** Hand-written cases of the rules ADR 8 and ADR 9 state, one instant at a time (service clock = T0 + minutes). */
describe('the chaos reference model, rules by example', () => {
  const at = (minutes: number) => T0 + minutes * 60_000;
  let n = 0;
  const id = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const play = (session: string, minutes: number, acceptedMinutes: number, extra: Partial<ModelEvent> = {}) =>
    ({
      kind: 'playback',
      eventId: id(),
      profileId: 'p',
      playbackSessionId: session,
      titleId: 'title-a',
      deviceId: 'tv',
      type: 'play',
      positionMs: minutes * 60_000,
      occurredAt: at(minutes),
      acceptedAt: at(acceptedMinutes),
      ...extra,
    }) as ModelEvent;
  const control = (kind: ModelEvent['kind'], minutes: number, extra: Record<string, unknown> = {}) =>
    ({ kind, eventId: id(), profileId: 'p', occurredAt: at(minutes), acceptedAt: at(minutes), ...extra }) as ModelEvent;
  const ids = (model: ReferenceModel, now?: number) => model.history('p', now).map((r) => r.recordId);
  const [s1, s2, s3] = SESSIONS;

  function modelOf(...events: ModelEvent[]): ReferenceModel {
    const model = new ReferenceModel();
    events.forEach((e) => model.add(e));
    return model;
  }

  it('a session begun while recording was on counts whole past a pause; one begun paused stays hidden past a resume', () => {
    const model = modelOf(
      play(s1, 0, 0),
      control('settings-changed', 5, { recording: 'paused' }),
      play(s1, 10, 10, { type: 'stop' }),
      play(s2, 12, 12),
      control('settings-changed', 20, { recording: 'on' }),
      play(s2, 25, 25, { type: 'stop' }),
      play(s3, 30, 30),
    );
    expect(ids(model)).toEqual([s3, s1]);
    expect(model.history('p').find((r) => r.recordId === s1)!.lastEventAt).toBe(new Date(at(10)).toISOString());
  });

  it('judges a pause by the earliest acceptance of any event of the session, whatever the device clock says', () => {
    // The device stamps its first event long before the pause, but the service first took the session
    // while paused; a late-arriving earlier event accepted before the pause brings it back.
    const paused = modelOf(control('settings-changed', 5, { recording: 'paused' }), play(s1, -600, 6));
    expect(ids(paused)).toEqual([]);
    expect(ids(modelOf(...[control('settings-changed', 5, { recording: 'paused' }), play(s1, 600, 4)]))).toEqual([s1]);
  });

  it('a change accepted at the same instant as the session applies to it', () => {
    expect(ids(modelOf(control('settings-changed', 5, { recording: 'paused' }), play(s1, 0, 5)))).toEqual([]);
  });

  it('auto-delete judges on the service clock: a session months old by the device, accepted now, stays', () => {
    const model = modelOf(control('settings-changed', 0, { autoDelete: '3m' }), play(s1, -150 * 24 * 60, 1));
    expect(ids(model, at(60))).toEqual([s1]);
    // Four months of the service's clock later it is gone, and a later 'never' brings nothing back.
    expect(ids(model, at(125 * 24 * 60))).toEqual([]);
    model.add(control('settings-changed', 130 * 24 * 60, { autoDelete: 'never' }));
    expect(ids(model, at(140 * 24 * 60))).toEqual([]);
  });

  it('a removed title hides its sessions accepted until the removal; a later session of it counts', () => {
    const model = modelOf(
      play(s1, 0, 0),
      play(s2, 1, 1, { titleId: 'title-b' } as Partial<ModelEvent>),
      control('title-removed', 5, { titleId: 'title-a' }),
      play(s1, 8, 8, { type: 'stop' }),
      play(s3, 10, 10),
    );
    expect(ids(model)).toEqual([s3, s2]);
  });

  it('an erasure takes everything accepted until its mark, controls included; what follows is a new history', () => {
    const before = [
      play(s1, 0, 0),
      control('settings-changed', 1, { recording: 'paused', autoDelete: '3m' }),
      control('title-removed', 2, { titleId: 'title-a' }),
      control('history-cleared', 3),
      play(s2, 4, 4),
    ];
    const model = modelOf(...before, control('profile-erased', 5), play(s3, 6, 6), play(s3, 9, 9, { type: 'stop' }));
    expect(ids(model)).toEqual([s3]);
    expect(model.settings('p')).toEqual({ recording: 'on', autoDelete: 'never' });
    expect([...model.erasedRecordIds('p')].sort()).toEqual([s1, s2].sort());
    // The mark, not the device's clock: a post-erasure event stamped far back by its device still counts.
    model.add(play(s2, -3_000, 7));
    expect(ids(model).sort()).toEqual([s2, s3].sort());
    expect(model.erasedRecordIds('p')).toEqual(new Set([s1]));
  });

  it('an erasure judges each copy: a copy accepted after the mark counts, without the early copy`s acceptance', () => {
    const first = play(s1, 0, 0);
    const model = modelOf(
      first,
      control('profile-erased', 5),
      control('settings-changed', 6, { recording: 'paused' }),
      { ...first, acceptedAt: at(7) },
    );
    // Had the early copy lent its acceptance (0, before the pause), the session would show.
    expect(ids(model)).toEqual([]);
    expect(modelOf(first, control('profile-erased', 5), { ...first, acceptedAt: at(7) }).history('p')).toHaveLength(1);
  });

  it('the latest of several erasures counts; settings read as the latest change accepted of each field', () => {
    const model = modelOf(
      control('profile-erased', 1),
      play(s1, 2, 2),
      control('settings-changed', 3, { autoDelete: '18m' }),
      control('profile-erased', 4),
      control('settings-changed', 6, { recording: 'paused' }),
      control('settings-changed', 5, { autoDelete: '36m', recording: 'on' }),
    );
    expect(ids(model)).toEqual([]);
    expect(model.settings('p')).toEqual({ recording: 'paused', autoDelete: '36m' });
  });
});
