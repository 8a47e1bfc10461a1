import { ViewingHistoryError } from '@vh/domain';

/** The event log lost its oldest messages: a rebuild from it could lose history, so it is refused. */
export class TruncatedEventLogError extends ViewingHistoryError {
  readonly code = 'truncated_event_log';
  constructor(
    topic: string,
    partition: number,
    earliest: string,
    consequence = '(pass --allow-truncated-log to rebuild from what is left)',
  ) {
    super(
      `partition ${partition} of ${topic} starts at offset ${earliest}, not 0: older events may be gone ${consequence}`,
    );
  }
}
