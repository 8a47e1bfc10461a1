/** The events on the viewing-history event log. The log is the source of truth; every table is a projection. */

export const PLAYBACK_EVENT_TYPES = ['play', 'pause', 'stop'] as const;
export type PlaybackEventType = (typeof PLAYBACK_EVENT_TYPES)[number];

/** Deletions are events too, so that a replay of the log reproduces them. */
export const DELETION_EVENT_TYPES = ['record-removed', 'history-cleared', 'title-removed'] as const;
export type DeletionEventType = (typeof DELETION_EVENT_TYPES)[number];

/** A member's settings of a profile (recording, auto-delete) are events too: see libs/domain/src/settings. */
export const SETTINGS_EVENT_TYPES = ['settings-changed'] as const;
export type SettingsEventType = (typeof SETTINGS_EVENT_TYPES)[number];

export const RECORDING_STATES = ['on', 'paused'] as const;
export type RecordingState = (typeof RECORDING_STATES)[number];
export const AUTO_DELETE_PERIODS = ['3m', '18m', '36m', 'never'] as const;
export type AutoDeletePeriod = (typeof AUTO_DELETE_PERIODS)[number];

export type ViewingEventType = PlaybackEventType | DeletionEventType | SettingsEventType;

/** Version of the wire format of events on the log; bumped on any incompatible change. */
export const VIEWING_EVENT_SCHEMA_VERSION = 1;

interface ViewingEventBase {
  /** Idempotency key: the same eventId any number of times counts once. */
  eventId: string;
  profileId: string;
  /** Epoch milliseconds (device time for playback events, server time for deletions). */
  occurredAt: number;
  /**
   * Epoch ms at which the service accepted the event (collector or API clock; for events produced onto
   * the log without it, the log's message timestamp). Judges clears against records (invariant 6: never
   * compared with occurredAt). Absent only on rows stored before it existed: `acceptanceOf` falls back.
   */
  acceptedAt?: number;
}

export interface PlaybackEvent extends ViewingEventBase {
  type: PlaybackEventType;
  titleId: string;
  playbackSessionId: string;
  deviceId: string;
  positionMs: number;
  titleDurationMs?: number;
}

export interface RecordRemovedEvent extends ViewingEventBase {
  type: 'record-removed';
  recordId: string;
}

export interface HistoryClearedEvent extends ViewingEventBase {
  type: 'history-cleared';
}

/** Every record of a title first accepted at or before this event's acceptedAt goes; later viewing counts. */
export interface TitleRemovedEvent extends ViewingEventBase {
  type: 'title-removed';
  titleId: string;
}

/** A change of a profile's settings; a field left out keeps its value. */
export interface SettingsChangedEvent extends ViewingEventBase {
  type: 'settings-changed';
  recording?: RecordingState;
  autoDelete?: AutoDeletePeriod;
}

export type DeletionEvent = RecordRemovedEvent | HistoryClearedEvent | TitleRemovedEvent;
/** Events the API puts on the log for a member's controls (not playback). */
export type ControlEvent = DeletionEvent | SettingsChangedEvent;
export type ViewingEvent = PlaybackEvent | ControlEvent;

/** The fields every playback event has (titleDurationMs and acceptedAt are optional). */
export const PLAYBACK_REQUIRED_FIELDS = [
  'eventId',
  'profileId',
  'titleId',
  'playbackSessionId',
  'type',
  'positionMs',
  'occurredAt',
  'deviceId',
] as const;

export function isPlaybackEvent(event: ViewingEvent): event is PlaybackEvent {
  return (PLAYBACK_EVENT_TYPES as readonly string[]).includes(event.type);
}

/** Total order used by the history fold: event time, then eventId to break ties deterministically. */
export function compareEvents(a: ViewingEvent, b: ViewingEvent): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt - b.occurredAt;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/** When the service accepted an event; device time only for rows stored before acceptedAt existed. */
export function acceptanceOf(event: ViewingEvent): number {
  return event.acceptedAt ?? event.occurredAt;
}
