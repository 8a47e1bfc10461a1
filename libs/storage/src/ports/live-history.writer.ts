import { DependencyUnavailableError, ViewingEvent } from '@vh/domain';
import { RowRejectedError } from '../cassandra-errors';

export interface AppendOptions {
  /** Rows of one profile per unlogged batch; 1 writes each row alone (to find a row that is rejected). */
  rowsPerBatch?: number;
  concurrency?: number;
  /**
   * By profile, a write time (microseconds) its rows, live and activity-index, must be dated after: the tombstone
   * of an erasure, dated at a write time read, which another host's clock, ahead of ours, may have set, or at the
   * clock of the host that deleted the index rows (perhaps ahead of ours too).
   */
  writtenAfterUs?: ReadonlyMap<string, number>;
}

/** Events not written, and why: RowRejectedError (the row itself; never retry) or DependencyUnavailableError. */
export interface FailedWrite {
  events: ViewingEvent[];
  error: RowRejectedError | DependencyUnavailableError;
}

/** What ingestion needs of the live table: appending events. A port, so unit tests fake it without casts. */
export abstract class LiveHistoryWriter {
  abstract append(events: readonly ViewingEvent[], options?: AppendOptions): Promise<FailedWrite[]>;
}
