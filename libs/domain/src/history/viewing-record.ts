/** What a playback session became: one line of a member's viewing history. */
export type PlaybackState = 'playing' | 'paused' | 'stopped';

/** A record counts as completed once the furthest position reached is this share of the title. */
export const COMPLETION_RATIO = 0.95;

export interface ViewingRecord {
  /** The playback session's id: one session, one record. */
  recordId: string;
  profileId: string;
  titleId: string;
  deviceId: string;
  /** Epoch ms of the session's first event. */
  startedAt: number;
  /** Epoch ms of the session's last event. */
  lastEventAt: number;
  /** Position at the last event: where a device resumes. */
  positionMs: number;
  /** Furthest position reached; decides completion. */
  maxPositionMs: number;
  /** Time actually spent playing (see the fold). */
  watchedMs: number;
  state: PlaybackState;
  titleDurationMs: number | null;
  /**
   * Earliest acceptedAt among the session's events: a clear hides the record when this is at or before
   * the clear's acceptedAt (one clock, invariant 6). Internal: not shown by the API.
   */
  firstAcceptedAt: number;
}

export function isCompleted(record: ViewingRecord): boolean {
  return record.titleDurationMs !== null && record.maxPositionMs >= COMPLETION_RATIO * record.titleDurationMs;
}

/** Newest first: by start time, then recordId, so the order is total and stable across pages. */
export function compareRecordsNewestFirst(a: ViewingRecord, b: ViewingRecord): number {
  if (a.startedAt !== b.startedAt) return b.startedAt - a.startedAt;
  return a.recordId < b.recordId ? 1 : a.recordId > b.recordId ? -1 : 0;
}
