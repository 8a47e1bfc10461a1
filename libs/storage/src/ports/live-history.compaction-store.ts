import { ViewingEvent } from '@vh/domain';

/** One live row as read: its key and its WRITETIME (microseconds, the writing host's clock). */
export interface LiveRowWrite {
  occurredAt: number;
  eventId: string;
  writeTimeUs: number;
}

/** The compactor's read of a profile's live rows. */
export interface LiveProfileRead {
  events: ViewingEvent[];
  /** Every row read, even of an unknown type, with its write time; a row with a null WRITETIME is left out. */
  rowsRead: LiveRowWrite[];
  /** The newest WRITETIME among the rows read (microseconds, the writing hosts' clocks); null if none. */
  newestWriteTimeUs: number | null;
}

/** What compaction needs of the live table: a profile's rows, and removing those compacted. A port. */
export abstract class LiveHistoryCompactionStore {
  abstract readProfile(profileId: string, options: { withWriteTime: true }): Promise<LiveProfileRead>;
  /**
   * Deletes rows before `instant` written at or before `tombstoneUs` (nothing when it is null), and each row
   * of `byKey` by its key, at its own write time (planLiveRowDeletes in the compaction room chooses them).
   */
  abstract deleteBefore(
    profileId: string,
    instant: number,
    tombstoneUs: number | null,
    byKey?: readonly LiveRowWrite[],
  ): Promise<void>;
}
