import { ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, SessionTrail, SettledDigest, UNKNOWN_SETTLED_DIGEST } from './compressed-history';
import { foldHistory, isDeleted } from './history-fold';
import { digestOf, mayBeSettled, SettledSessionNotRebuiltError, settledSessionsTouched } from './settled-sessions';
import { compareRecordsNewestFirst, ViewingRecord } from './viewing-record';
import { EMPTY_MEMBER_CONTROLS, hiddenForGood, MemberControls, sameControls } from '../settings/member-controls';

/** A new compressed history, and how many late events (see `FoldedHistory.lateEvents`) it took in. */
export interface CompactedHistory extends CompressedHistory {
  trails: ReadonlyMap<string, SessionTrail>;
  settledDigests: ReadonlyMap<string, SettledDigest>;
  lateEvents: number;
  /** Records settled by this compaction (their trails dropped). */
  settled: number;
  /**
   * Whether the live events before the input's compactedBefore changed it: a late playback event, a copy
   * replacing one in a trail, a new removed id or a later clear. Only rows that changed nothing (left-over
   * duplicates) may be deleted without writing this history (invariant 3). Also true when the member's
   * controls changed or now hide a stored record (auto-delete): such a record must go physically.
   */
  changed: boolean;
}

/**
 * Rolls every live event before `cutoff` into a new compressed history. `compressed` must come with its
 * trails loaded, or the records it carries over lose theirs.
 *
 * Exact because each record keeps its trail (the distinct events folded into it): events at or after
 * the cutoff continue from the stored record, and a late or re-stamped event folds the session again.
 * Records hidden for good keep only their id, so that later events of the same session stay hidden:
 * removed, cleared, of a removed title, or hidden by a pause or an auto-delete that no control still to
 * be stored can undo (`hiddenForGood`: controls accepted before compactedBefore are taken as stored).
 * Records a pause or an auto-delete hides since then stay whole, with their trails, as hidden records:
 * readers and later compactions judge them again, so a resume or a longer period accepted earlier but
 * stored later shows them as the fold of all events does (invariants 1 and 3, ADR 8).
 */
export function compactHistory(
  compressed: CompressedHistory,
  liveEvents: readonly ViewingEvent[],
  cutoff: number,
  options: {
    /**
     * Settle the records whose events were all accepted before this instant (the service's clock, never a
     * device's: invariant 6): their trails (most of the stored bytes) are dropped, and rebuilt from the event
     * log if a late event ever comes (settled-sessions.ts). Default: nothing is settled.
     */
    settleBefore?: number;
    /**
     * The service's now at which auto-delete is judged (the compactor passes its clock minus the delete
     * margin, so it never removes a record a reader whose clock is a little behind still shows).
     * Default: no auto-delete is applied.
     */
    now?: number;
  } = {},
): CompactedHistory {
  const compactedBefore = compactedBeforeOf(compressed, cutoff);
  // Settings and titles removed are taken whole, whatever their time: which sessions are hidden for good
  // (paused, of a removed title, auto-deleted) is judged on every control read, as a reader judges it. A
  // resume accepted after the cutoff but before a session's first acceptance keeps that session
  // (invariant 3). Their live rows stay until rolled up; folding them again changes nothing (sets).
  const folded = foldHistory(
    liveEvents.filter(
      (event) =>
        event.occurredAt < compactedBefore || event.type === 'settings-changed' || event.type === 'title-removed',
    ),
    compressed,
    { keepTrails: true },
  );
  const settleBefore = options.settleBefore ?? Number.NEGATIVE_INFINITY;
  // Sessions with live rows that stay live (at or after compactedBefore) keep their trails: readers fold
  // those rows onto the record.
  const staysLive = new Set<string>();
  for (const event of liveEvents) {
    if ('playbackSessionId' in event && event.occurredAt >= compactedBefore) staysLive.add(event.playbackSessionId);
  }
  // Rolling these live rows up would take them as counted: the caller rebuilds the trails first. Judged
  // on every live row, as the compactor judges it: a record a live deletion hides needs none.
  const notRebuilt = settledSessionsTouched(compressed, liveEvents);
  if (notRebuilt.length > 0) {
    const profileId = liveEvents[0]?.profileId ?? '?';
    throw new SettledSessionNotRebuiltError(profileId, notRebuilt, 'rebuild their trails first');
  }
  let settled = 0;
  const records: ViewingRecord[] = [];
  const trails = new Map<string, SessionTrail>();
  const settledDigests = new Map<string, SettledDigest>();
  const removedRecordIds = new Set(folded.removedRecordIds);
  const now = options.now ?? Number.NEGATIVE_INFINITY;
  for (const record of folded.records.values()) {
    // A session with rows that stay live is judged again with them (a variant among them may carry an
    // earlier acceptance: a pause must not remove it for good meanwhile).
    const decided = !staysLive.has(record.recordId) && hiddenForGood(record, folded.controls, now, compactedBefore);
    if (isDeleted(record, folded) || decided) {
      removedRecordIds.add(record.recordId);
      continue;
    }
    records.push(record);
    const trail = folded.trails!.get(record.recordId) ?? compressed.trails?.get(record.recordId);
    if (trail === undefined) {
      settledDigests.set(record.recordId, compressed.settledDigests?.get(record.recordId) ?? UNKNOWN_SETTLED_DIGEST);
      continue;
    }
    // The rows read are all deleted after the switch; a copy written since (a crash before the delete, a
    // re-delivery) touches the settled record and has its trail rebuilt by the next compaction.
    if (!staysLive.has(record.recordId) && mayBeSettled(trail, settleBefore)) {
      settledDigests.set(record.recordId, digestOf(trail));
      settled++;
    } else {
      trails.set(record.recordId, trail);
    }
  }
  const storedRemoved = new Set(compressed.removedRecordIds);
  const changed =
    folded.lateEvents > 0 ||
    settled > 0 ||
    folded.clearedThrough !== compressed.clearedThrough ||
    !sameControls(folded.controls, compressed.controls ?? EMPTY_MEMBER_CONTROLS) ||
    [...removedRecordIds].some((id) => !storedRemoved.has(id)) ||
    [...folded.trails!].some(([id, trail]) => !sameTrail(trail, compressed.trails?.get(id)));
  return {
    records: records.sort(compareRecordsNewestFirst),
    removedRecordIds: [...removedRecordIds].sort(),
    clearedThrough: folded.clearedThrough,
    compactedBefore,
    controls: folded.controls,
    trails,
    settledDigests,
    lateEvents: folded.lateEvents,
    settled,
    changed,
  };
}

/** Where a compaction at `cutoff` splits the history: never before where an earlier one did. */
export function compactedBeforeOf(compressed: Pick<CompressedHistory, 'compactedBefore'>, cutoff: number): number {
  return Math.max(cutoff, compressed.compactedBefore ?? cutoff);
}

/**
 * Whether a compaction run now at `cutoff` would remove one of these stored records physically: one the
 * controls hide for good by its compactedBefore (the others it keeps as hidden records). Readers ask for a
 * compaction then; without a cutoff, for any stored record the controls hide.
 */
export function removableByCompaction(
  records: readonly ViewingRecord[],
  history: { controls: MemberControls; compactedBefore: number | null },
  now: number,
  cutoff: number | undefined,
): boolean {
  const decidedBefore =
    cutoff === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(cutoff, history.compactedBefore ?? Number.NEGATIVE_INFINITY);
  return records.some((record) => hiddenForGood(record, history.controls, now, decidedBefore));
}

/** Same distinct events, same copies: a replaced copy (e.g. a re-stamped retry) changes the record. */
function sameTrail(folded: SessionTrail, stored: SessionTrail | undefined): boolean {
  if (stored === undefined || stored.length !== folded.length) return false;
  return folded.every((event, i) => canonical(event) === canonical(stored[i]));
}

/** Key order differs between a decoded trail and a live row. */
const canonical = (event: object) => JSON.stringify(event, Object.keys(event).sort());
