import { DependencyUnavailableError, ViewingEvent } from '@vh/domain';
import { RowRejectedError } from '../cassandra-errors';

export interface AppendOptions {
  /** Rows of one profile per unlogged batch; 1 writes each row alone (to find a row that is rejected). */
  rowsPerBatch?: number;
  concurrency?: number;
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
