import { ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, SessionTrail } from './compressed-history';
import { foldHistory, isVisible } from './history-fold';
import { compareRecordsNewestFirst, ViewingRecord } from './viewing-record';

/** A new compressed history, and how many late events (see `FoldedHistory.lateEvents`) it took in. */
export interface CompactedHistory extends CompressedHistory {
  trails: ReadonlyMap<string, SessionTrail>;
  lateEvents: number;
  /**
   * Whether the live events before the input's compactedBefore changed it: a late playback event, a copy
   * replacing one in a trail, a new removed id or a later clear. Only rows that changed nothing (left-over
   * duplicates) may be deleted without writing this history (invariant 3).
   */
  changed: boolean;
}

/**
 * Rolls every live event before `cutoff` into a new compressed history. `compressed` must come with its
 * trails loaded, or the records it carries over lose theirs.
 *
 * Exact because each record keeps its trail (the distinct events folded into it): events at or after
 * the cutoff continue from the stored record, and a late or re-stamped event folds the session again.
 * Hidden records keep only their id, so that later events of the same session stay hidden.
 */
export function compactHistory(
  compressed: CompressedHistory,
  liveEvents: readonly ViewingEvent[],
  cutoff: number,
  options: {
    /**
     * Keep the trail of a record only while its last event is at most this long before compactedBefore
     * (trails cost about 22 bytes per event stored); older records become final. Default: forever.
     */
    trailRetentionMs?: number;
  } = {},
): CompactedHistory {
  const compactedBefore = Math.max(cutoff, compressed.compactedBefore ?? cutoff);
  const folded = foldHistory(
    liveEvents.filter((event) => event.occurredAt < compactedBefore),
    compressed,
    { keepTrails: true },
  );
  const keepTrailsFrom = compactedBefore - (options.trailRetentionMs ?? Number.POSITIVE_INFINITY);
  const records: ViewingRecord[] = [];
  const trails = new Map<string, SessionTrail>();
  const removedRecordIds = new Set(folded.removedRecordIds);
  for (const record of folded.records.values()) {
    if (!isVisible(record, folded)) {
      removedRecordIds.add(record.recordId);
      continue;
    }
    records.push(record);
    const trail = folded.trails!.get(record.recordId) ?? compressed.trails?.get(record.recordId);
    if (trail !== undefined && record.lastEventAt >= keepTrailsFrom) trails.set(record.recordId, trail);
  }
  const storedRemoved = new Set(compressed.removedRecordIds);
  const changed =
    folded.lateEvents > 0 ||
    folded.clearedThrough !== compressed.clearedThrough ||
    [...removedRecordIds].some((id) => !storedRemoved.has(id)) ||
    [...folded.trails!].some(([id, trail]) => !sameTrail(trail, compressed.trails?.get(id)));
  return {
    records: records.sort(compareRecordsNewestFirst),
    removedRecordIds: [...removedRecordIds].sort(),
    clearedThrough: folded.clearedThrough,
    compactedBefore,
    trails,
    lateEvents: folded.lateEvents,
    changed,
  };
}

/** Same distinct events, same copies: a replaced copy (e.g. a re-stamped retry) changes the record. */
function sameTrail(folded: SessionTrail, stored: SessionTrail | undefined): boolean {
  if (stored === undefined || stored.length !== folded.length) return false;
  return folded.every((event, i) => canonical(event) === canonical(stored[i]));
}

/** Key order differs between a decoded trail and a live row. */
const canonical = (event: object) => JSON.stringify(event, Object.keys(event).sort());
