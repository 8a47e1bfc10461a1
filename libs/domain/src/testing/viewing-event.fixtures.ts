import { randomUUID } from 'node:crypto';
import { PlaybackEvent, PlaybackEventType } from '../events/viewing-event';

/** Builds playback events for tests: one session of one title on one device unless told otherwise. */
export function playbackEvent(
  type: PlaybackEventType,
  occurredAt: number,
  positionMs: number,
  overrides: Partial<PlaybackEvent> = {},
): PlaybackEvent {
  return {
    eventId: randomUUID(),
    profileId: 'profile-1',
    titleId: 'title-1',
    playbackSessionId: '00000000-0000-4000-8000-000000000001',
    deviceId: 'device-1',
    type,
    positionMs,
    occurredAt,
    ...overrides,
  };
}
