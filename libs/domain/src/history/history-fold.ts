import { acceptanceOf, compareEvents, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, EMPTY_COMPRESSED_HISTORY, SessionTrail } from './compressed-history';
import { compareRecordsNewestFirst, PlaybackState, ViewingRecord } from './viewing-record';
import {
  compareSettingsCopies,
  EMPTY_MEMBER_CONTROLS,
  hiddenByControls,
  MemberControls,
  SettingsChange,
  settingsChangeOf,
  withControlEvents,
} from '../settings/member-controls';
import { TitleRemovedEvent } from '../events/viewing-event';

/** The folded state of one profile: records by id plus the deletions seen. */
export interface FoldedHistory {
  records: Map<string, ViewingRecord>;
  removedRecordIds: Set<string>;
  clearedThrough: number | null;
  compactedBefore: number | null;
  /** Settings changes and titles removed: sets, so neither order nor repeats matter (member-controls.ts). */
  controls: MemberControls;
  /** With `keepTrails`: the trail of every record folded here from events (merged with its stored trail). */
  trails?: Map<string, SessionTrail>;
  /** Live playback events before `compactedBefore` that the compressed history had not folded (late events). */
  lateEvents: number;
  /**
   * Sessions with live events whose compressed record is settled (its trail dropped, ADR 6): their events
   * wait for a compaction that rebuilds the trail from the event log; until then the record shows as stored.
   */
  settledSessionsTouched: string[];
}

const STATE_AFTER: Record<PlaybackEvent['type'], PlaybackState> = { play: 'playing', pause: 'paused', stop: 'stopped' };

/**
 * Folds live events onto the compressed history of one profile.
 *
 * Equal to the fold of all distinct events in order, whatever the arrival order and the compaction points
 * (invariants 1 and 3). A playback event is identified by (playbackSessionId, eventId): repeats count once,
 * the variant smallest in (occurredAt, eventId, content) order wins. A session with a compressed record
 * continues from it when its live events all come after the trail and repeat none of it; otherwise it is
 * folded again from trail + live events, so a late event lands where it belongs. Deletions are sets
 * (removed ids, latest clear), so their order and repeats never matter.
 *
 * Watched time: while playing, each next event adds the forward position advance, bounded by the wall
 * time that passed, so seeks forward and stalled players do not count as watching.
 */
export function foldHistory(
  liveEvents: readonly ViewingEvent[],
  compressed: CompressedHistory = EMPTY_COMPRESSED_HISTORY,
  options: { keepTrails?: boolean } = {},
): FoldedHistory {
  const removedRecordIds = new Set(compressed.removedRecordIds);
  let clearedThrough = compressed.clearedThrough;
  // A clear counts from its earliest acceptance (copies of one clear are one event); the latest clear wins.
  const clears = new Map<string, number>();
  const bySession = new Map<string, Map<string, PlaybackEvent>>();
  const settingsChanges: SettingsChange[] = [];
  // Like clears: copies of one removal are one event, counted from their earliest acceptance.
  const titlesRemoved = new Map<string, TitleRemovedEvent>();
  for (const event of liveEvents) {
    if (event.type === 'settings-changed') {
      settingsChanges.push(settingsChangeOf(event));
    } else if (event.type === 'title-removed') {
      const seen = titlesRemoved.get(event.eventId);
      if (seen === undefined || acceptanceOf(event) < acceptanceOf(seen)) titlesRemoved.set(event.eventId, event);
    } else if (event.type === 'record-removed') {
      removedRecordIds.add(event.recordId);
    } else if (event.type === 'history-cleared') {
      const seen = clears.get(event.eventId);
      clears.set(event.eventId, Math.min(seen ?? Number.POSITIVE_INFINITY, acceptanceOf(event)));
    } else {
      let session = bySession.get(event.playbackSessionId);
      if (session === undefined) bySession.set(event.playbackSessionId, (session = new Map()));
      addDistinct(session, event);
    }
  }

  for (const accepted of clears.values()) {
    clearedThrough = clearedThrough === null ? accepted : Math.max(clearedThrough, accepted);
  }

  const records = new Map<string, ViewingRecord>();
  for (const record of compressed.records) records.set(record.recordId, record);
  const trails = options.keepTrails ? new Map<string, SessionTrail>() : undefined;
  const compactedBefore = compressed.compactedBefore ?? Number.NEGATIVE_INFINITY;
  let lateEvents = 0;
  const settledSessionsTouched: string[] = [];
  for (const [sessionId, session] of bySession) {
    // Hidden for good: later events of a removed or cleared session stay hidden.
    if (removedRecordIds.has(sessionId)) continue;
    const stored = records.get(sessionId);
    const trail = stored === undefined ? [] : compressed.trails?.get(sessionId);
    if (trail === undefined) {
      // A cleared one stays cleared: more copies, variants or events only move its first acceptance earlier
      // (addDistinct). Not one written before acceptance times (no digest): its first acceptance is a start.
      const digest = compressed.settledDigests?.get(sessionId);
      if (
        digest !== undefined &&
        digest.events > 0 &&
        clearedThrough !== null &&
        stored!.firstAcceptedAt <= clearedThrough
      )
        continue;
      // Settled (ADR 6): without its events the record cannot tell a late event from a repeat. Shown as
      // stored, never counted twice, until the compaction that rebuilds its trail from the event log.
      settledSessionsTouched.push(sessionId);
      continue;
    }
    const merged = new Map<string, PlaybackEvent>();
    for (const event of trail) merged.set(event.eventId, event);
    let extendsTrail = true;
    const last = trail[trail.length - 1];
    for (const event of session.values()) {
      const seen = merged.get(event.eventId);
      if (seen === undefined && event.occurredAt < compactedBefore) lateEvents++;
      if (
        addDistinct(merged, event) &&
        (seen !== undefined || (last !== undefined && compareEvents(event, last) < 0))
      ) {
        extendsTrail = false;
      }
    }
    const ordered = [...merged.values()].sort(compareEvents);
    let record: ViewingRecord;
    if (stored !== undefined && extendsTrail) {
      record = { ...stored };
      for (let i = trail.length; i < ordered.length; i++) applyPlaybackEvent(record, ordered[i]);
    } else {
      record = foldSession(ordered);
    }
    records.set(sessionId, record);
    trails?.set(sessionId, ordered);
  }
  const controls = withControlEvents(compressed.controls ?? EMPTY_MEMBER_CONTROLS, settingsChanges, [
    ...titlesRemoved.values(),
  ]);
  return {
    records,
    removedRecordIds,
    clearedThrough,
    compactedBefore: compressed.compactedBefore,
    controls,
    trails,
    lateEvents,
    settledSessionsTouched,
  };
}

/**
 * Whether folding these live events needs the trails of the compressed history (not loaded by default):
 * true when a live playback event belongs to a session that has a compressed record.
 */
export function needsTrails(liveEvents: readonly ViewingEvent[], compressed: CompressedHistory): boolean {
  if (compressed.trails !== undefined || compressed.records.length === 0) return false;
  const sessions = new Set<string>();
  for (const event of liveEvents) if ('playbackSessionId' in event) sessions.add(event.playbackSessionId);
  if (sessions.size === 0) return false;
  return compressed.records.some((record) => sessions.has(record.recordId));
}

/**
 * One copy per live row key (occurredAt, eventId): the copy whose effect the fold keeps of each, so that a
 * store holding one copy per key folds to the same history as all copies (invariant 1). Repair writes these.
 */
export function liveRowsOf(events: readonly ViewingEvent[]): ViewingEvent[] {
  const rows = new Map<string, ViewingEvent>();
  for (const event of events) {
    const key = `${event.occurredAt}|${event.eventId}`;
    const seen = rows.get(key);
    rows.set(key, seen === undefined ? event : variantThatCounts(seen, event));
  }
  return [...rows.values()];
}

/**
 * Of two copies of one event (same eventId and occurredAt: one live row), the one whose effect the fold
 * keeps: the content the fold keeps (for playback the smallest variant), at the earliest acceptance of the
 * two, as the live row stores it (every acceptance, the earliest counts; docs/adr/0007). For writers that
 * must store one copy and fold to the same history as all copies (invariant 1).
 */
export function variantThatCounts(a: ViewingEvent, b: ViewingEvent): ViewingEvent {
  if (a.type === 'settings-changed' && b.type === 'settings-changed') {
    return compareSettingsCopies(settingsChangeOf(a), settingsChangeOf(b)) <= 0 ? a : b;
  }
  const kept = 'playbackSessionId' in a && 'playbackSessionId' in b ? (compareVariants(a, b) <= 0 ? a : b) : a;
  return withEarliestAcceptance(kept, a, b);
}

/** Keeps the smallest variant of each eventId; true when the kept event changed. */
export function addDistinct(byId: Map<string, PlaybackEvent>, event: PlaybackEvent): boolean {
  const seen = byId.get(event.eventId);
  if (seen === undefined) {
    byId.set(event.eventId, event);
    return true;
  }
  // One eventId is one event: the earliest acceptance of any copy or re-stamped variant counts (ADR 7), so
  // the row's copy and every copy fold alike whatever the write order, and a later delivery never moves a
  // session's first acceptance later (a clear, a pause or a removed title hides it for good; invariant 1).
  const winner = compareVariants(event, seen) < 0 ? event : seen;
  const kept = withEarliestAcceptance(winner, event, seen);
  if (kept === seen) return false;
  byId.set(event.eventId, kept);
  return true;
}

/**
 * The earliest *stored* acceptance of the two. A copy without one (written before acceptance times) lends
 * none: its fallback is device time, which must never become an acceptance (invariant 6).
 */
function withEarliestAcceptance<T extends ViewingEvent>(kept: T, a: ViewingEvent, b: ViewingEvent): T {
  const stored = [a.acceptedAt, b.acceptedAt].filter((t): t is number => t !== undefined);
  if (stored.length === 0) return kept;
  const earliest = Math.min(...stored);
  return kept.acceptedAt === earliest ? kept : { ...kept, acceptedAt: earliest };
}

/**
 * Same eventId, different content, is a client bug (e.g. a retry re-stamped by the device): the smallest
 * in fold order, then by canonical content, wins whatever the arrival order. Among copies that differ only
 * in acceptedAt (a device retry accepted twice), the earliest acceptance wins.
 */
function compareVariants(a: PlaybackEvent, b: PlaybackEvent): number {
  const byOrder = compareEvents(a, b);
  if (byOrder !== 0) return byOrder;
  const ja = canonicalContent(a);
  const jb = canonicalContent(b);
  if (ja !== jb) return ja < jb ? -1 : 1;
  return acceptanceOf(a) - acceptanceOf(b);
}

function canonicalContent(event: PlaybackEvent): string {
  return JSON.stringify(
    event,
    Object.keys(event)
      .filter((key) => key !== 'acceptedAt')
      .sort(),
  );
}

/** The record of a session from its distinct events in fold order. */
export function foldSession(ordered: readonly PlaybackEvent[]): ViewingRecord {
  const record = startRecord(ordered[0]);
  for (let i = 1; i < ordered.length; i++) applyPlaybackEvent(record, ordered[i]);
  return record;
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
    firstAcceptedAt: acceptanceOf(event),
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
  record.firstAcceptedAt = Math.min(record.firstAcceptedAt, acceptanceOf(event));
}

/**
 * A record is visible unless it was removed, a clear was accepted at or after its session's first
 * accepted event, or the member's controls hide it (title removed, recording paused, auto-deleted by
 * `now`): every instant compared is the service's clock, never the device's (invariant 6).
 */
export function isVisible(
  record: ViewingRecord,
  history: Pick<FoldedHistory, 'removedRecordIds' | 'clearedThrough' | 'controls'>,
  now: number = Number.NEGATIVE_INFINITY,
): boolean {
  return !isDeleted(record, history) && hiddenByControls(record, history.controls, now) === null;
}

/** Removed, or cleared after its session began: for good, whatever is stored later (deletions are sets). */
export function isDeleted(
  record: ViewingRecord,
  history: Pick<FoldedHistory, 'removedRecordIds' | 'clearedThrough'>,
): boolean {
  if (history.removedRecordIds.has(record.recordId)) return true;
  return history.clearedThrough !== null && record.firstAcceptedAt <= history.clearedThrough;
}

/**
 * The visible records of a folded history at `now` (the reader's clock), newest first. Every reader
 * passes its now; without one, auto-delete is not applied (tests of the other rules).
 */
export function visibleRecords(history: FoldedHistory, now: number = Number.NEGATIVE_INFINITY): ViewingRecord[] {
  const visible: ViewingRecord[] = [];
  for (const record of history.records.values()) if (isVisible(record, history, now)) visible.push(record);
  return visible.sort(compareRecordsNewestFirst);
}
