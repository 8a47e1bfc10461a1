import { MemberControls, recordingAt } from './member-controls';

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
  return controls.settingsChanges.filter((c) => c.recording === 'paused').map((c) => c.eventId);
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

/**
 * A profile's row in the daily sweep's index (`profile_auto_delete`). Every writer only adds to its sets, so
 * the row is the same whatever the order of the writes (no write shadows another by its timestamp; invariant 6).
 */
export interface DailySweepNote {
  /** Why it was noted (`auto-delete`, `paused`); none on rows from before migration 10 (auto-delete's). */
  reasons: readonly string[];
  /** Pauses noted (eventIds): by ingest as it writes a pause, by a compaction as it finishes them (migration 12). */
  pauses: readonly string[];
  /** Pauses a compaction finished (`pausesFinishedBy`). */
  pausesFinished: readonly string[];
}

/**
 * Whether the first scheduled sweep of a day visits the profile: it set an auto-delete period, or it paused
 * recording and some pause is not finished (or none is named: a row noted before pauses were, or by a process
 * that does not name them). A row that only holds finished pauses (a compaction's note after an erasure deleted
 * the row) is not visited.
 */
export function visitedDaily(note: DailySweepNote): boolean {
  const { reasons, pauses, pausesFinished } = note;
  if (reasons.length === 0 && pauses.length === 0 && pausesFinished.length === 0) return true; // before migration 10
  if (reasons.includes('auto-delete')) return true;
  const finished = new Set(pausesFinished);
  const unfinished = pauses.some((pause) => !finished.has(pause));
  if (unfinished) return true;
  return reasons.includes('paused') && pauses.length === 0;
}
