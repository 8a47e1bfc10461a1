import { LiveProfileRead, LiveRowWrite } from '@vh/storage';

/**
 * At most this many rolled-up rows are deleted one by one per run. Each is a row tombstone that every read of
 * the profile's live partition meets for gc_grace_seconds (10 days): 45,000 of them (a large write compacted
 * within the margin) took the first page of a 10,000-record history from 2.6 to 55 ms, and 100,000 fail the
 * read (tombstone_failure_threshold; bench/ANALYSIS.md, 2026-11-27). These are the rows of a profile's last
 * margin of writes before its read, so a run adds at most this many, and only when that margin of writes is
 * also older than the compaction age (a profile quiet since): a run per day, the usual, stays at the warning
 * threshold (1,000) over the 10 days. More are left for a follow-up run, which reads ask for again should
 * it be lost (ReadPathCompactionTrigger).
 */
export const MAX_ROW_DELETES = 100;

/** How a compaction removes the live rows it rolled up (see planLiveRowDeletes). */
export interface LiveRowDeletes {
  /** The range tombstone's date (microseconds); null when nothing was read, and nothing is deleted. */
  tombstoneUs: number | null;
  /** Rows above the tombstone, deleted each by its key at its own write time; empty when they are left. */
  byKey: LiveRowWrite[];
  /** Rows above the tombstone left in place, already counted: too many to delete by key. */
  left: number;
  /** The newest write time among the rows left, for the follow-up's tombstone; null when none is left. */
  leftThroughUs: number | null;
}

/**
 * The deletes of the rolled-up rows before `instant`. One range tombstone dated by the rows' own write times
 * (never the compactor's clock, invariant 6): the newest read minus the margin, so that a row an ingest host a
 * little behind writes after the read outlives it (invariant 2). The read rows the margin spares are deleted by
 * key when few; when many (a backfill, a restore, a large re-drive compacted within the margin) they are left,
 * counted by the version, and a follow-up run at least twice the margin later dates its tombstone at their
 * newest write time (`leftThroughUs`): by then any row written after this read carries a later write time,
 * unless two ingest hosts' clocks are further apart than the margin, the assumption the margin already makes.
 */
export function planLiveRowDeletes(
  read: Pick<LiveProfileRead, 'rowsRead' | 'newestWriteTimeUs'>,
  instant: number,
  deleteMarginMs: number,
  /** The `leftThroughUs` of an earlier run, when this is its follow-up. */
  earlierLeftThroughUs?: number,
): LiveRowDeletes {
  if (read.newestWriteTimeUs === null) return { tombstoneUs: null, byKey: [], left: 0, leftThroughUs: null };
  const tombstoneUs = Math.max(read.newestWriteTimeUs - deleteMarginMs * 1000, earlierLeftThroughUs ?? -Infinity);
  const spared = read.rowsRead.filter((row) => row.occurredAt < instant && row.writeTimeUs > tombstoneUs);
  if (spared.length <= MAX_ROW_DELETES) return { tombstoneUs, byKey: spared, left: 0, leftThroughUs: null };
  const leftThroughUs = spared.reduce((newest, row) => Math.max(newest, row.writeTimeUs), -Infinity);
  return { tombstoneUs, byKey: [], left: spared.length, leftThroughUs };
}

/**
 * When the follow-up of a run that left rows may run. One margin for the skew between ingest hosts (the
 * argument above); one more for the skew between the compactor host that delays the job (BullMQ dates the
 * delay by its clock) and the one whose worker runs it.
 */
export function liveRowsLeftRemovalDelayMs(deleteMarginMs: number): number {
  return 2 * deleteMarginMs;
}
