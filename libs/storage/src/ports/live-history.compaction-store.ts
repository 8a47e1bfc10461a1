import { ViewingEvent } from '@vh/domain';

/** The compactor's read of a profile's live rows. */
export interface LiveProfileRead {
  events: ViewingEvent[];
  /** The newest WRITETIME among the rows read (microseconds, the writing hosts' clocks); null if none. */
  newestWriteTimeUs: number | null;
}

/** What compaction needs of the live table: a profile's rows, and removing those compacted. A port. */
export abstract class LiveHistoryCompactionStore {
  abstract readProfile(profileId: string, options: { withWriteTime: true }): Promise<LiveProfileRead>;
  /** Deletes rows before `instant` written at or before `tombstoneUs`; nothing when it is null. */
  abstract deleteBefore(profileId: string, instant: number, tombstoneUs: number | null): Promise<void>;
}
