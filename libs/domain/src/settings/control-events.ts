import { AutoDeletePeriod, RecordingState, SettingsChangedEvent, TitleRemovedEvent } from '../events/viewing-event';

/**
 * The events a member's controls put on the log, built in one place for the API and the CLI. `now` is the
 * accepting process's clock: it is both occurredAt and acceptedAt (one clock, invariant 6).
 */
export function settingsChangedEvent(
  profileId: string,
  changes: { recording?: RecordingState; autoDelete?: AutoDeletePeriod },
  eventId: string,
  now: number,
): SettingsChangedEvent {
  return { type: 'settings-changed', eventId, profileId, occurredAt: now, acceptedAt: now, ...changes };
}

export function titleRemovedEvent(profileId: string, titleId: string, eventId: string, now: number): TitleRemovedEvent {
  return { type: 'title-removed', eventId, profileId, titleId, occurredAt: now, acceptedAt: now };
}
