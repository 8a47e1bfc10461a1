import {
  acceptanceOf,
  AutoDeletePeriod,
  RecordingState,
  SettingsChangedEvent,
  TitleRemovedEvent,
} from '../events/viewing-event';
import { ViewingRecord } from '../history/viewing-record';

/**
 * What a member controls about a profile's history: its settings (recording, auto-delete) and the titles
 * removed from it. Everything here is judged on the service's clock only (invariant 6): acceptance times of
 * the settings events, of titles removed and of records' sessions, and the reader's or compactor's now.
 */

/** One accepted settings change: a field left out kept its value. */
export interface SettingsChange {
  eventId: string;
  /** When the API accepted it: the instant from which it applies. */
  acceptedAt: number;
  recording?: RecordingState;
  autoDelete?: AutoDeletePeriod;
}

export interface MemberControls {
  /** Every settings change ever accepted, distinct by eventId, in (acceptedAt, eventId) order. */
  settingsChanges: readonly SettingsChange[];
  /** Per title, the latest acceptance of a "remove this title": records first accepted at or before it go. */
  titlesRemoved: ReadonlyMap<string, number>;
}

export const EMPTY_MEMBER_CONTROLS: MemberControls = Object.freeze({
  settingsChanges: Object.freeze([]) as readonly SettingsChange[],
  titlesRemoved: new Map<string, number>(),
});

/** The settings in force. */
export interface ProfileSettings {
  recording: RecordingState;
  autoDelete: AutoDeletePeriod;
  /** acceptedAt of the latest change, null while the defaults apply. */
  updatedAt: number | null;
}

export const DEFAULT_PROFILE_SETTINGS: ProfileSettings = Object.freeze({
  recording: 'on',
  autoDelete: 'never',
  updatedAt: null,
});

/** Calendar months (UTC) of each auto-delete period; `never` has none. */
export const AUTO_DELETE_MONTHS: Readonly<Record<AutoDeletePeriod, number | null>> = {
  '3m': 3,
  '18m': 18,
  '36m': 36,
  never: null,
};

export function settingsChangeOf(event: SettingsChangedEvent): SettingsChange {
  return {
    eventId: event.eventId,
    acceptedAt: acceptanceOf(event),
    ...(event.recording === undefined ? {} : { recording: event.recording }),
    ...(event.autoDelete === undefined ? {} : { autoDelete: event.autoDelete }),
  };
}

/**
 * Adds settings changes and title removals to controls. A union of sets ordered by (acceptedAt, eventId)
 * plus a max per title: the result depends neither on the order of the events nor on repeats
 * (invariant 1). Of two copies of one settings eventId, the earliest acceptance counts (a retry).
 */
export function withControlEvents(
  controls: MemberControls,
  settings: readonly SettingsChange[],
  titlesRemoved: readonly Pick<TitleRemovedEvent, 'titleId' | 'acceptedAt' | 'occurredAt'>[] = [],
): MemberControls {
  if (settings.length === 0 && titlesRemoved.length === 0) return controls;
  const byId = new Map<string, SettingsChange>();
  for (const change of [...controls.settingsChanges, ...settings]) {
    const seen = byId.get(change.eventId);
    if (seen === undefined || compareSettingsCopies(change, seen) < 0) byId.set(change.eventId, change);
  }
  const titles = new Map(controls.titlesRemoved);
  for (const removal of titlesRemoved) {
    const accepted = removal.acceptedAt ?? removal.occurredAt;
    titles.set(removal.titleId, Math.max(titles.get(removal.titleId) ?? Number.NEGATIVE_INFINITY, accepted));
  }
  return { settingsChanges: [...byId.values()].sort(compareChanges), titlesRemoved: titles };
}

/** The union of two controls (e.g. the compressed history's and the live events'). */
export function mergeControls(a: MemberControls, b: MemberControls): MemberControls {
  return withControlEvents(
    a,
    b.settingsChanges,
    [...b.titlesRemoved].map(([titleId, acceptedAt]) => ({ titleId, acceptedAt, occurredAt: acceptedAt })),
  );
}

export function sameControls(a: MemberControls, b: MemberControls): boolean {
  if (a.settingsChanges.length !== b.settingsChanges.length || a.titlesRemoved.size !== b.titlesRemoved.size) {
    return false;
  }
  for (const [title, at] of a.titlesRemoved) if (b.titlesRemoved.get(title) !== at) return false;
  return a.settingsChanges.every((change, i) => canonical(change) === canonical(b.settingsChanges[i]));
}

/** The settings in force now: for each field, the latest change that set it. */
export function currentSettings(controls: MemberControls): ProfileSettings {
  const changes = controls.settingsChanges;
  if (changes.length === 0) return DEFAULT_PROFILE_SETTINGS;
  return {
    recording: recordingAt(controls, Number.POSITIVE_INFINITY),
    autoDelete: latestValue(changes, 'autoDelete', Number.POSITIVE_INFINITY) ?? DEFAULT_PROFILE_SETTINGS.autoDelete,
    updatedAt: changes[changes.length - 1].acceptedAt,
  };
}

/** Recording as it was at `instant` (service clock): a change accepted at the same instant applies. */
export function recordingAt(controls: MemberControls, instant: number): RecordingState {
  return latestValue(controls.settingsChanges, 'recording', instant) ?? DEFAULT_PROFILE_SETTINGS.recording;
}

/**
 * When the service last saw the record's session, on its own clock: the session's first acceptance plus
 * how long the session ran by the device's clock. A duration measured on one clock, added to an instant
 * of the other, compares no two clocks (invariant 6): a device clock set hours wrong does not move it.
 */
export function lastSeenAt(record: ViewingRecord): number {
  return record.firstAcceptedAt + Math.max(0, record.lastEventAt - record.startedAt);
}

/**
 * Whether auto-delete has removed the record by `now` (service clock). A record goes once its last event
 * is older than the period in force, at any moment from the setting's acceptance up to now; a record
 * deleted under one setting stays deleted under a later, longer one, so reads and compaction agree
 * whenever compaction ran (invariant 3).
 */
export function isAutoDeleted(record: ViewingRecord, controls: MemberControls, now: number): boolean {
  return autoDeletion(record, controls, now) !== null;
}

/**
 * When auto-delete removed the record (`at`: the earliest instant it was older than the period in force)
 * and when that period was set (`periodSetAt`), or null when it has not by `now`. Only a settings change
 * accepted from `periodSetAt` up to `at` can change the period in force then: one accepted later leaves
 * `at` where it was (deleted stays deleted), one accepted earlier is overridden by the period's setting.
 */
function autoDeletion(
  record: ViewingRecord,
  controls: MemberControls,
  now: number,
): { at: number; periodSetAt: number } | null {
  const changes = controls.settingsChanges;
  const seen = lastSeenAt(record);
  let period: AutoDeletePeriod = DEFAULT_PROFILE_SETTINGS.autoDelete;
  let from = Number.NEGATIVE_INFINITY;
  for (let i = 0; i <= changes.length; i++) {
    const until = i < changes.length ? changes[i].acceptedAt : Number.POSITIVE_INFINITY;
    const months = AUTO_DELETE_MONTHS[period];
    if (months !== null) {
      // Deleted at any instant m in [from, until) with m <= now and m > seen + period.
      const earliest = Math.max(from, addUtcMonths(seen, months) + 1);
      if (earliest <= Math.min(until - 1, now)) return { at: earliest, periodSetAt: from };
    }
    if (i < changes.length && changes[i].autoDelete !== undefined) {
      period = changes[i].autoDelete!;
      from = changes[i].acceptedAt;
    }
  }
  return null;
}

/**
 * Why a record is hidden by the member's controls, or null: its title was removed after its session
 * began, its session began while recording was paused (the whole session, even past a resume; a session
 * begun while recording was on counts whole, even past a pause), or auto-delete removed it.
 */
export function hiddenByControls(
  record: ViewingRecord,
  controls: MemberControls,
  now: number,
): 'title-removed' | 'recording-paused' | 'auto-deleted' | null {
  const titleRemoved = controls.titlesRemoved.get(record.titleId);
  if (titleRemoved !== undefined && record.firstAcceptedAt <= titleRemoved) return 'title-removed';
  if (controls.settingsChanges.length === 0) return null;
  if (recordingAt(controls, record.firstAcceptedAt) === 'paused') return 'recording-paused';
  if (isAutoDeleted(record, controls, now)) return 'auto-deleted';
  return null;
}

/**
 * Whether the controls hide the record for good, taking every control accepted before `decidedBefore`
 * (service clock) as stored: compaction may then keep only its id. A removed title never shows its record
 * again (removals only add up, and more events of a session only move its first acceptance earlier). A
 * pause or an auto-delete can be undone by what is stored later but accepted earlier: a resume, or an
 * event of the session, accepted at or before its first acceptance; another period accepted from the
 * setting of the period in force up to the instant auto-delete took the record. Once those instants are
 * before `decidedBefore`, nothing still to come can (ADR 8). A record already older than a period when it
 * was set goes at once: only a change accepted in that same millisecond could keep it.
 */
export function hiddenForGood(
  record: ViewingRecord,
  controls: MemberControls,
  now: number,
  decidedBefore: number,
): boolean {
  const hidden = hiddenByControls(record, controls, now);
  if (hidden === null) return false;
  if (hidden === 'title-removed') return true;
  if (hidden === 'recording-paused' && record.firstAcceptedAt < decidedBefore) return true;
  const deleted = autoDeletion(record, controls, now);
  return deleted !== null && (deleted.at < decidedBefore || deleted.at === deleted.periodSetAt);
}

/** `instant` plus whole calendar months, in UTC (the 31st plus one month may land on the 1st or 3rd). */
export function addUtcMonths(instant: number, months: number): number {
  const date = new Date(instant);
  date.setUTCMonth(date.getUTCMonth() + months);
  return date.getTime();
}

function latestValue<K extends 'recording' | 'autoDelete'>(
  changes: readonly SettingsChange[],
  field: K,
  atOrBefore: number,
): SettingsChange[K] | undefined {
  for (let i = changes.length - 1; i >= 0; i--) {
    if (changes[i].acceptedAt <= atOrBefore && changes[i][field] !== undefined) return changes[i][field];
  }
  return undefined;
}

function compareChanges(a: SettingsChange, b: SettingsChange): number {
  if (a.acceptedAt !== b.acceptedAt) return a.acceptedAt - b.acceptedAt;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

/** Two copies of one eventId: the earliest acceptance, then the smallest content, whatever the order. */
export function compareSettingsCopies(a: SettingsChange, b: SettingsChange): number {
  if (a.acceptedAt !== b.acceptedAt) return a.acceptedAt - b.acceptedAt;
  const ca = canonical(a);
  const cb = canonical(b);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}

const canonical = (change: SettingsChange) =>
  JSON.stringify([change.eventId, change.acceptedAt, change.recording ?? null, change.autoDelete ?? null]);

/** Why the compaction sweep visits a profile every day (ADR 8), as noted in its index. */
export const DAILY_SWEEP_REASONS = ['auto-delete', 'paused'] as const;
export type DailySweepReason = (typeof DAILY_SWEEP_REASONS)[number];

/**
 * Why a profile is visited by the first scheduled sweep of each day (ADR 8): it ever set an auto-delete period
 * (records age past it with no event to ask for a compaction), or ever paused recording (a session the pause
 * hides but first accepted within COMPACTION_MIN_AGE_MS of a compaction stays stored, hidden, until a
 * compaction after that age, which nothing else asks for on a profile nobody reads).
 */
export function dailySweepReasons(controls: {
  settingsChanges: readonly { autoDelete?: string; recording?: string }[];
}): DailySweepReason[] {
  const reasons: DailySweepReason[] = [];
  if (controls.settingsChanges.some(setsAutoDeletePeriod)) reasons.push('auto-delete');
  if (controls.settingsChanges.some(pausesRecording)) reasons.push('paused');
  return reasons;
}

/** A settings change that set an auto-delete period (the daily sweep's reason `auto-delete`). */
export const setsAutoDeletePeriod = (change: { autoDelete?: string }): boolean =>
  change.autoDelete !== undefined && change.autoDelete !== 'never';

/** A settings change that paused recording (the daily sweep's reason `paused`). */
export const pausesRecording = (change: { recording?: string }): boolean => change.recording === 'paused';
