import { ViewingEvent } from '../events/viewing-event';
import { CompressedHistory } from './compressed-history';
import { foldHistory, isVisible } from './history-fold';
import { compareRecordsNewestFirst, ViewingRecord } from './viewing-record';

/**
 * Rolls every live event before `cutoff` into a new compressed history.
 *
 * Exact because the fold is a left fold in event-time order and a record holds the whole fold state:
 * events at or after the cutoff continue from the stored record just as they would from the events.
 * Hidden records keep only their id, so that later events of the same session stay hidden.
 */
export function compactHistory(
  compressed: CompressedHistory,
  liveEvents: readonly ViewingEvent[],
  cutoff: number,
): CompressedHistory {
  const compactedBefore = Math.max(cutoff, compressed.compactedBefore ?? cutoff);
  const folded = foldHistory(
    liveEvents.filter((event) => event.occurredAt < compactedBefore),
    compressed,
  );
  const records: ViewingRecord[] = [];
  const removedRecordIds = new Set(folded.removedRecordIds);
  for (const record of folded.records.values()) {
    if (isVisible(record, folded)) records.push(record);
    else removedRecordIds.add(record.recordId);
  }
  return {
    records: records.sort(compareRecordsNewestFirst),
    removedRecordIds: [...removedRecordIds].sort(),
    clearedThrough: folded.clearedThrough,
    compactedBefore,
  };
}
