import { ViewingRecord } from './viewing-record';

/**
 * What compaction keeps of everything that happened before `compactedBefore`: the folded records,
 * and enough of the deletions that later events of a deleted record stay hidden.
 */
export interface CompressedHistory {
  records: ViewingRecord[];
  /** Records deleted (one by one, or by a clear). Later events of these sessions stay hidden. */
  removedRecordIds: string[];
  /** Latest "clear history" instant: every record that started at or before it is hidden. */
  clearedThrough: number | null;
  /** Every event before this instant is folded in here; live events before it are already counted. */
  compactedBefore: number | null;
}

export const EMPTY_COMPRESSED_HISTORY: CompressedHistory = Object.freeze({
  records: [],
  removedRecordIds: [],
  clearedThrough: null,
  compactedBefore: null,
}) as CompressedHistory;
