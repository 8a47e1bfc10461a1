import { ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, SessionTrail } from './compressed-history';
import { foldHistory, isVisible } from './history-fold';
import { compareRecordsNewestFirst, ViewingRecord } from './viewing-record';

/** A new compressed history, and how many late events (see `FoldedHistory.lateEvents`) it took in. */
export interface CompactedHistory extends CompressedHistory {
  trails: ReadonlyMap<string, SessionTrail>;
  lateEvents: number;
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
  return {
    records: records.sort(compareRecordsNewestFirst),
    removedRecordIds: [...removedRecordIds].sort(),
    clearedThrough: folded.clearedThrough,
    compactedBefore,
    trails,
    lateEvents: folded.lateEvents,
  };
}
