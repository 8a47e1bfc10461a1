import { MemberControls, pausesRecording, recordingAt, setsAutoDeletePeriod } from './member-controls';

/**
 * When a profile that paused recording may leave the daily sweep (ADR 8). Judged on the service's clock only
 * (invariant 6): acceptance times of the settings changes and of the sessions, and the compaction's
 * `compactedBefore` (its clock minus COMPACTION_MIN_AGE_MS). No device time is read here.
 */

/** Whether recording is `on` at every instant from `from` on: no session first accepted then is hidden by a pause. */
export function recordingOnFrom(controls: MemberControls, from: number): boolean {
  // A step function that changes only where a change is accepted: `from` and those instants suffice.
  const instants = [from, ...controls.settingsChanges.filter((c) => c.acceptedAt > from).map((c) => c.acceptedAt)];
  return instants.every((instant) => recordingAt(controls, instant) === 'on');
}

/** The eventIds of the settings changes that paused recording. */
export function pausesOf(controls: MemberControls): string[] {
  return controls.settingsChanges.filter(pausesRecording).map((c) => c.eventId);
}

/** What a compaction knows once its version is current and the live rows it rolled up are deleted. */
export interface CompactionOfPauses {
  /** Every control the compaction read (stored and live). */
  controls: MemberControls;
  /** The new version's: every session first accepted before it and hidden by a pause is hidden for good. */
  compactedBefore: number;
  /** The records the new version keeps, hidden records too. */
  records: readonly { firstAcceptedAt: number }[];
  /** Acceptance instants of the playback rows it read and left in the live table (at or after compactedBefore). */
  liveAcceptances: Iterable<number>;
}

/**
 * The pauses a compaction *finishes*: after it, nothing they hide can still need a physical removal that only the
 * daily sweep would bring, so they no longer keep the profile in it. All of the controls' pauses, or none:
 * - recording is `on` at every instant from `compactedBefore` on, so every session a pause hides was first
 *   accepted before it, and any compaction from now on (their `compactedBefore` only grows) removes such a session
 *   for good when it rolls it up (`hiddenForGood`), a late event of it too (its activity row brings that
 *   compaction, as for any live row);
 * - the version keeps no record first accepted while paused (a hidden record whose session still has live rows);
 * - no live row it left was accepted while paused.
 * A pause this compaction did not read (accepted later, or ingested after its read) is not among them: it keeps
 * the profile in the sweep until a compaction that read it finishes it.
 */
export function pausesFinishedBy(compaction: CompactionOfPauses): string[] {
  const { controls, compactedBefore } = compaction;
  const pauses = pausesOf(controls);
  if (pauses.length === 0) return [];
  if (!recordingOnFrom(controls, compactedBefore)) return [];
  const whilePaused = (instant: number) => recordingAt(controls, instant) === 'paused';
  if (compaction.records.some((record) => whilePaused(record.firstAcceptedAt))) return [];
  for (const instant of compaction.liveAcceptances) if (whilePaused(instant)) return [];
  return pauses;
}

/** The settings changes a note names, by eventId: those that paused recording, those that set a period. */
export interface NamedSettings {
  pauses: string[];
  periods: string[];
}

/** What a version's controls give the daily sweep, named (its `dailySweepReasons`, by the changes behind them). */
export function settingsNamedForDailySweep(controls: MemberControls): NamedSettings {
  return {
    pauses: pausesOf(controls),
    periods: controls.settingsChanges.filter(setsAutoDeletePeriod).map((c) => c.eventId),
  };
}

/**
 * Of the settings a note named, those the profile's current controls no longer hold: an erasure removed them
 * (controls only grow otherwise, and an erased event never comes back: ADR 9). A note written after the erasure's
 * delete of the row (a compaction stalled between its switch and its note) marks them erased, read after it.
 */
export function erasedSince(named: NamedSettings, current: MemberControls): string[] {
  const held = new Set(current.settingsChanges.map((c) => c.eventId));
  return [...named.pauses, ...named.periods].filter((id) => !held.has(id));
}

/**
 * What a compaction's daily-sweep note, written after its switch to version `switched`, marks erased: what it named
 * that the version read after the note no longer holds, only if that version is newer. An erasure switches to a
 * newer version before it deletes the row, so a read that finds none, or one not newer, is a stale replica (a
 * consistency of ONE), not an erasure: marking a live setting erased would leave it out of the sweep for good.
 */
export function erasedSinceSwitch(
  named: NamedSettings,
  switched: number,
  current: { version: number; controls: MemberControls } | null,
): string[] {
  if (current === null || current.version <= switched) return [];
  return erasedSince(named, current.controls);
}

/**
 * A profile's row in the daily sweep's index (`profile_auto_delete`). Every writer only adds to its sets, so
 * the row is the same whatever the order of the writes (no write shadows another by its timestamp; invariant 6).
 */
export interface DailySweepNote {
  /** Why it was noted (`auto-delete`, `paused`); none on rows from before migration 10 (auto-delete's). */
  reasons: readonly string[];
  /** Pauses noted (eventIds): by ingest as it writes a pause, by a compaction's version (migration 12). */
  pauses: readonly string[];
  /** Pauses a compaction finished (`pausesFinishedBy`). */
  pausesFinished: readonly string[];
  /** Settings that set an auto-delete period, noted as pauses are. */
  periods: readonly string[];
  /** Noted settings found erased (`erasedSince`). */
  erased: readonly string[];
}

/**
 * Whether the first scheduled sweep of a day visits the profile: a noted period not erased, a noted pause neither
 * finished nor erased, or a reason noted before settings were named (migration 12; visited as before). A row
 * holding only what is finished or erased (a late note after an erasure deleted the row) is not visited.
 */
export function visitedDaily(note: DailySweepNote): boolean {
  const { reasons, pauses, pausesFinished, periods, erased } = note;
  const named = pauses.length + pausesFinished.length + periods.length + erased.length > 0;
  if (!named) return true; // before migration 12: a reason (none before migration 10: auto-delete)
  const gone = new Set(erased);
  const finished = new Set(pausesFinished);
  if (periods.some((id) => !gone.has(id))) return true;
  if (pauses.some((id) => !finished.has(id) && !gone.has(id))) return true;
  // A reason noted unnamed (an older process, migration 10's backfill) beside named ones: visited until named.
  return (
    (reasons.includes('auto-delete') && periods.length === 0) || (reasons.includes('paused') && pauses.length === 0)
  );
}
