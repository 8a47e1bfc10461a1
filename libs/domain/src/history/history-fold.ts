import { compareEvents, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { compareRecordsNewestFirst, PlaybackState, ViewingRecord } from './viewing-record';

/** The folded state of one profile: records by id plus the deletions seen. */
export interface FoldedHistory {
  records: Map<string, ViewingRecord>;
  removedRecordIds: Set<string>;
  clearedThrough: number | null;
  compactedBefore: number | null;
}

const STATE_AFTER: Record<PlaybackEvent['type'], PlaybackState> = { play: 'playing', pause: 'paused', stop: 'stopped' };

/**
 * Folds live events onto the compressed history of one profile.
 *
 * Deterministic and independent of duplicates and arrival order: events are de-duplicated by eventId
 * and applied in (occurredAt, eventId) order. Live events before `compactedBefore` are already part of
 * the compressed history (compaction moved them there), so they are skipped rather than counted twice.
 *
 * Watched time: while playing, each next event adds the forward position advance, bounded by the wall
 * time that passed, so seeks forward and stalled players do not count as watching.
 */
export function foldHistory(
  liveEvents: readonly ViewingEvent[],
  compressed: CompressedHistory = EMPTY_COMPRESSED_HISTORY,
): FoldedHistory {
  const records = new Map<string, ViewingRecord>();
  for (const record of compressed.records) records.set(record.recordId, record);
  const removedRecordIds = new Set(compressed.removedRecordIds);
  let clearedThrough = compressed.clearedThrough;
  // Records that came from the compressed history may be shared (cached); copy before changing them.
  const owned = new Set<string>();

  for (const event of orderedDistinct(liveEvents, compressed.compactedBefore)) {
    if (event.type === 'record-removed') {
      removedRecordIds.add(event.recordId);
    } else if (event.type === 'history-cleared') {
      clearedThrough = clearedThrough === null ? event.occurredAt : Math.max(clearedThrough, event.occurredAt);
    } else {
      const current = records.get(event.playbackSessionId);
      if (current === undefined) {
        records.set(event.playbackSessionId, startRecord(event));
      } else {
        const record = owned.has(current.recordId) ? current : { ...current };
        applyPlaybackEvent(record, event);
        records.set(record.recordId, record);
      }
      owned.add(event.playbackSessionId);
    }
  }
  return { records, removedRecordIds, clearedThrough, compactedBefore: compressed.compactedBefore };
}

/** Events de-duplicated by eventId (the smallest in fold order wins) and sorted in fold order. */
function orderedDistinct(events: readonly ViewingEvent[], compactedBefore: number | null): ViewingEvent[] {
  const byId = new Map<string, ViewingEvent>();
  for (const event of events) {
    if (compactedBefore !== null && event.occurredAt < compactedBefore) continue;
    const seen = byId.get(event.eventId);
    if (seen === undefined || compareEventContent(event, seen) < 0) byId.set(event.eventId, event);
  }
  return [...byId.values()].sort(compareEvents);
}

/** Same eventId, different content, is a client bug; pick one deterministically whatever the arrival order. */
function compareEventContent(a: ViewingEvent, b: ViewingEvent): number {
  const byOrder = compareEvents(a, b);
  if (byOrder !== 0) return byOrder;
  const ja = JSON.stringify(a, Object.keys(a).sort());
  const jb = JSON.stringify(b, Object.keys(b).sort());
  return ja < jb ? -1 : ja > jb ? 1 : 0;
}

function startRecord(event: PlaybackEvent): ViewingRecord {
  return {
    recordId: event.playbackSessionId,
    profileId: event.profileId,
    titleId: event.titleId,
    deviceId: event.deviceId,
    startedAt: event.occurredAt,
    lastEventAt: event.occurredAt,
    positionMs: event.positionMs,
    maxPositionMs: event.positionMs,
    watchedMs: 0,
    state: STATE_AFTER[event.type],
    titleDurationMs: event.titleDurationMs ?? null,
  };
}

/** Applies the next event (in fold order) of a session to its record, in place. */
function applyPlaybackEvent(record: ViewingRecord, event: PlaybackEvent): void {
  if (record.state === 'playing') {
    const advance = event.positionMs - record.positionMs;
    const elapsed = event.occurredAt - record.lastEventAt;
    record.watchedMs += Math.max(0, Math.min(advance, elapsed));
  }
  record.lastEventAt = event.occurredAt;
  record.positionMs = event.positionMs;
  record.maxPositionMs = Math.max(record.maxPositionMs, event.positionMs);
  record.state = STATE_AFTER[event.type];
  if (event.titleDurationMs !== undefined) {
    record.titleDurationMs = Math.max(record.titleDurationMs ?? 0, event.titleDurationMs);
  }
}

/** A record is visible unless it was removed or started at or before the latest clear. */
export function isVisible(
  record: ViewingRecord,
  history: Pick<FoldedHistory, 'removedRecordIds' | 'clearedThrough'>,
): boolean {
  if (history.removedRecordIds.has(record.recordId)) return false;
  return history.clearedThrough === null || record.startedAt > history.clearedThrough;
}

/** The visible records of a folded history, newest first. */
export function visibleRecords(history: FoldedHistory): ViewingRecord[] {
  const visible: ViewingRecord[] = [];
  for (const record of history.records.values()) if (isVisible(record, history)) visible.push(record);
  return visible.sort(compareRecordsNewestFirst);
}
