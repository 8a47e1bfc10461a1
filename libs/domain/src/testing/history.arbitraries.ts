import fc from 'fast-check';
import {
  AUTO_DELETE_PERIODS,
  PLAYBACK_EVENT_TYPES,
  PlaybackEvent,
  RECORDING_STATES,
  ViewingEvent,
} from '../events/viewing-event';

/** fast-check generators of one profile's events, shared by the domain's property tests. */

export const MIN = 60_000;
export const DAY = 86_400_000;

/** `count` session ids that sort in index order (chunk and trail ranges follow it). */
export const sessionIds = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

/** An instant `from` plus 0 to `max` steps of `step` ms: small pools, so times collide often. */
export const steps = (from: number, max: number, step: number) =>
  fc.integer({ min: 0, max }).map((n) => from + n * step);

/** A settings change as the API puts it on the log: its own clock, occurredAt = acceptedAt. */
export const settingsChanged = (at: fc.Arbitrary<number>, eventId: fc.Arbitrary<string> = fc.uuid()) =>
  fc
    .record({
      eventId,
      at,
      recording: fc.option(fc.constantFrom(...RECORDING_STATES), { nil: undefined }),
      autoDelete: fc.option(fc.constantFrom(...AUTO_DELETE_PERIODS), { nil: undefined }),
    })
    .map(({ eventId, at, recording, autoDelete }): ViewingEvent => {
      const event: ViewingEvent = {
        type: 'settings-changed',
        eventId,
        profileId: 'profile-1',
        occurredAt: at,
        acceptedAt: at,
      };
      if (recording !== undefined) event.recording = recording;
      if (autoDelete !== undefined) event.autoDelete = autoDelete;
      return event;
    });

export const titleRemoved = (
  at: fc.Arbitrary<number>,
  titles: readonly string[],
  eventId: fc.Arbitrary<string> = fc.uuid(),
) =>
  fc.record({ eventId, at, titleId: fc.constantFrom(...titles) }).map(({ eventId, at, titleId }): ViewingEvent => ({
    type: 'title-removed',
    eventId,
    profileId: 'profile-1',
    titleId,
    occurredAt: at,
    acceptedAt: at,
  }));

export const historyCleared = (at: fc.Arbitrary<number>, eventId: fc.Arbitrary<string> = fc.uuid()) =>
  fc.record({ eventId, at }).map(({ eventId, at }): ViewingEvent => ({
    type: 'history-cleared',
    eventId,
    profileId: 'profile-1',
    occurredAt: at,
    acceptedAt: at,
  }));

export interface ProfileEventsShape {
  sessions: readonly string[];
  titles: readonly string[];
  /** Distinct events at most (variants come on top). */
  maxEvents: number;
  /** occurredAt of a playback event (the device's clock). */
  playbackAt: fc.Arbitrary<number>;
  /** acceptedAt - occurredAt of a playback event: delivery delay, or the device clock's error. */
  acceptDelay: fc.Arbitrary<number>;
  /** occurredAt of a record removal: as late as compaction cutoffs, so some arrive after one. */
  removalAt: fc.Arbitrary<number>;
  clearAt: fc.Arbitrary<number>;
  /** When given, the member's controls too (settings changes, titles removed), accepted at these instants. */
  controlAt?: fc.Arbitrary<number>;
  /** How far (ms, either way, never 0) a re-stamped copy of a playback event moves. */
  variantShift: fc.Arbitrary<number>;
  maxVariants: number;
}

/**
 * A profile's events with unique ids, plus variants: the same eventId re-stamped with other content (a
 * device retry after a clock change), so that repeats fall on either side of a compaction.
 */
export function profileEvents(shape: ProfileEventsShape): fc.Arbitrary<ViewingEvent[]> {
  const ids = fc.uniqueArray(fc.uuid(), { minLength: shape.maxEvents, maxLength: shape.maxEvents });
  const playback = fc
    .record({
      type: fc.constantFrom(...PLAYBACK_EVENT_TYPES),
      playbackSessionId: fc.constantFrom(...shape.sessions),
      titleId: fc.constantFrom(...shape.titles),
      deviceId: fc.constantFrom('tv', 'phone'),
      positionMs: fc.integer({ min: 0, max: 120 }).map((s) => s * 30_000),
      occurredAt: shape.playbackAt,
      titleDurationMs: fc.option(fc.constantFrom(3_000_000, 6_000_000), { nil: undefined }),
      acceptDelay: shape.acceptDelay,
    })
    .map(({ acceptDelay, titleDurationMs, ...rest }) => (eventId: string): ViewingEvent => ({
      eventId,
      profileId: 'profile-1',
      ...rest,
      ...(titleDurationMs === undefined ? {} : { titleDurationMs }),
      acceptedAt: rest.occurredAt + acceptDelay,
    }));
  const removal = fc
    .record({ recordId: fc.constantFrom(...shape.sessions), occurredAt: shape.removalAt })
    .map((spec) => (eventId: string): ViewingEvent => ({
      type: 'record-removed',
      eventId,
      profileId: 'profile-1',
      ...spec,
    }));
  // The other events' own generators take the eventId from the shared pool.
  const withId = (arbitrary: (eventId: fc.Arbitrary<string>) => fc.Arbitrary<ViewingEvent>) =>
    arbitrary(fc.constant('')).map((event) => (eventId: string) => ({ ...event, eventId }));
  const kinds = [
    { weight: 12, arbitrary: playback },
    { weight: 1, arbitrary: removal },
    { weight: 1, arbitrary: withId((id) => historyCleared(shape.clearAt, id)) },
  ];
  if (shape.controlAt !== undefined) {
    const at = shape.controlAt;
    kinds.push(
      { weight: 2, arbitrary: withId((id) => settingsChanged(at, id)) },
      { weight: 1, arbitrary: withId((id) => titleRemoved(at, shape.titles, id)) },
    );
  }
  const variant = fc.record({
    of: fc.nat(),
    shift: shape.variantShift,
    positionMs: fc.integer({ min: 0, max: 120 }).map((s) => s * 30_000),
    acceptDelay: shape.acceptDelay,
  });
  return fc
    .tuple(
      fc.array(fc.oneof(...kinds), { maxLength: shape.maxEvents }),
      fc.array(variant, { maxLength: shape.maxVariants }),
      ids,
    )
    .map(([makers, variants, eventIds]) => {
      const events = makers.map((make, i) => make(eventIds[i]));
      const playbacks = events.filter((e): e is PlaybackEvent => 'playbackSessionId' in e);
      for (const v of playbacks.length ? variants : []) {
        const original = playbacks[v.of % playbacks.length];
        const occurredAt = original.occurredAt + v.shift;
        // Two contents under one (occurredAt, eventId) share a live row: the last one written is kept (README).
        if (events.some((e) => e.eventId === original.eventId && e.occurredAt === occurredAt)) continue;
        events.push({ ...original, occurredAt, positionMs: v.positionMs, acceptedAt: occurredAt + v.acceptDelay });
      }
      return events;
    });
}

/** A non-zero shift of 1 to `max` steps of `step` ms, either way. */
export const shiftOf = (max: number, step: number) =>
  fc
    .integer({ min: 1, max })
    .chain((n) => fc.constantFrom(n, -n))
    .map((n) => n * step);
