/**
 * The chaos checker's reference model: what the service should answer, from every acknowledged event.
 *
 * Deliberately simple and written apart from libs/domain (it imports nothing from it), so that the
 * service's fold and this model can disagree: keep every event, drop repeated eventIds (the earliest
 * stamp wins), sort by (occurredAt, eventId), replay each session from its first event.
 */

export interface ModelPlaybackEvent {
  kind: 'playback';
  eventId: string;
  profileId: string;
  playbackSessionId: string;
  titleId: string;
  deviceId: string;
  type: 'play' | 'pause' | 'stop';
  positionMs: number;
  occurredAt: number;
  titleDurationMs?: number;
  /** When the service took it (our clock at the acknowledgement, or the log's timestamp). */
  acceptedAt: number;
}

export interface ModelRemovalEvent {
  kind: 'record-removed';
  eventId: string;
  profileId: string;
  recordId: string;
  occurredAt: number;
  acceptedAt: number;
}

export interface ModelClearEvent {
  kind: 'history-cleared';
  eventId: string;
  profileId: string;
  occurredAt: number;
  acceptedAt: number;
}

export type ModelEvent = ModelPlaybackEvent | ModelRemovalEvent | ModelClearEvent;

/** A record as the API shows it (toView), so answers compare field by field. */
export interface RecordView {
  recordId: string;
  titleId: string;
  deviceId: string;
  startedAt: string;
  lastEventAt: string;
  positionMs: number;
  watchedMs: number;
  titleDurationMs: number | null;
  state: 'playing' | 'paused' | 'stopped';
  completed: boolean;
}

export interface SessionState {
  recordId: string;
  titleId: string;
  deviceId: string;
  startedAt: number;
  /** The earliest acceptedAt among the session's events (the acceptance-time clear rule). */
  firstAcceptedAt: number;
  lastEventAt: number;
  positionMs: number;
  furthestMs: number;
  watchedMs: number;
  state: 'playing' | 'paused' | 'stopped';
  titleDurationMs: number | null;
}

const COMPLETED_SHARE = 0.95;

/**
 * Whether the clears of a profile hide a record. The ONE place the clear rule lives: a clear hides a
 * session the service first accepted (any of its events) at or before it accepted the clear; device time
 * plays no part (invariant 6).
 */
export function hiddenByClear(session: SessionState, clears: readonly ModelClearEvent[]): boolean {
  return clears.some((clear) => session.firstAcceptedAt <= clear.acceptedAt);
}

export class ReferenceModel {
  private readonly events = new Map<string, ModelEvent[]>();

  /** Adds an event the service acknowledged (or that the log holds); repeats are fine. */
  add(event: ModelEvent): void {
    const list = this.events.get(event.profileId) ?? [];
    list.push(event);
    this.events.set(event.profileId, list);
  }

  profiles(): string[] {
    return [...this.events.keys()].sort();
  }

  /** Distinct eventIds of a profile. */
  distinctEvents(profileId: string): number {
    return new Set((this.events.get(profileId) ?? []).map((e) => e.eventId)).size;
  }

  /** Visible records, newest first (startedAt, then recordId, both descending). */
  history(profileId: string): RecordView[] {
    const sessions = this.visibleSessions(profileId);
    sessions.sort(
      (a, b) => b.startedAt - a.startedAt || (a.recordId < b.recordId ? 1 : a.recordId > b.recordId ? -1 : 0),
    );
    return sessions.map(view);
  }

  /** Per title the most recently active record, if unfinished; most recent first. */
  continueWatching(profileId: string, limit: number): RecordView[] {
    const latest = new Map<string, SessionState>();
    for (const s of this.visibleSessions(profileId)) {
      const seen = latest.get(s.titleId);
      if (
        !seen ||
        s.lastEventAt > seen.lastEventAt ||
        (s.lastEventAt === seen.lastEventAt && s.recordId > seen.recordId)
      )
        latest.set(s.titleId, s);
    }
    return [...latest.values()]
      .filter((s) => !isCompleted(s))
      .sort((a, b) => b.lastEventAt - a.lastEventAt || (a.recordId < b.recordId ? 1 : -1))
      .slice(0, limit)
      .map(view);
  }

  private visibleSessions(profileId: string): SessionState[] {
    const distinct = new Map<string, ModelEvent>();
    for (const event of this.events.get(profileId) ?? []) {
      const seen = distinct.get(event.eventId);
      if (!seen) distinct.set(event.eventId, event);
      else distinct.set(event.eventId, oneOf(event, seen));
    }
    const ordered = [...distinct.values()].sort(
      (a, b) => a.occurredAt - b.occurredAt || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0),
    );
    const sessions = new Map<string, SessionState>();
    const removed = new Set<string>();
    const clears: ModelClearEvent[] = [];
    for (const event of ordered) {
      if (event.kind === 'record-removed') removed.add(event.recordId);
      else if (event.kind === 'history-cleared') clears.push(event);
      else replay(sessions, event);
    }
    return [...sessions.values()].filter((s) => !removed.has(s.recordId) && !hiddenByClear(s, clears));
  }
}

/**
 * Same eventId twice: the earlier stamp wins; equal stamps, the smaller content (any fixed choice), and
 * then the event was accepted when the service first took either copy (a device re-posting an event
 * after a clear does not un-clear it).
 */
function oneOf(a: ModelEvent, b: ModelEvent): ModelEvent {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? a : b;
  const kept = contentKey(a) < contentKey(b) ? a : b;
  return { ...kept, acceptedAt: Math.min(a.acceptedAt, b.acceptedAt) };
}

function contentKey(event: ModelEvent): string {
  const { acceptedAt: _ignored, ...content } = event;
  return JSON.stringify(content, Object.keys(content).sort());
}

const STATE: Record<ModelPlaybackEvent['type'], SessionState['state']> = {
  play: 'playing',
  pause: 'paused',
  stop: 'stopped',
};

function replay(sessions: Map<string, SessionState>, event: ModelPlaybackEvent): void {
  const s = sessions.get(event.playbackSessionId);
  if (!s) {
    sessions.set(event.playbackSessionId, {
      recordId: event.playbackSessionId,
      titleId: event.titleId,
      deviceId: event.deviceId,
      startedAt: event.occurredAt,
      firstAcceptedAt: event.acceptedAt,
      lastEventAt: event.occurredAt,
      positionMs: event.positionMs,
      furthestMs: event.positionMs,
      watchedMs: 0,
      state: STATE[event.type],
      titleDurationMs: event.titleDurationMs ?? null,
    });
    return;
  }
  // Watching is position gained while playing, at most the wall time that passed, never negative.
  if (s.state === 'playing') {
    const gained = event.positionMs - s.positionMs;
    const passed = event.occurredAt - s.lastEventAt;
    if (gained > 0 && passed > 0) s.watchedMs += Math.min(gained, passed);
  }
  // The earliest acceptance of any of the session's events: what a clear is judged against.
  if (event.acceptedAt < s.firstAcceptedAt) s.firstAcceptedAt = event.acceptedAt;
  s.lastEventAt = event.occurredAt;
  s.positionMs = event.positionMs;
  if (event.positionMs > s.furthestMs) s.furthestMs = event.positionMs;
  s.state = STATE[event.type];
  if (event.titleDurationMs !== undefined && (s.titleDurationMs === null || event.titleDurationMs > s.titleDurationMs))
    s.titleDurationMs = event.titleDurationMs;
}

function isCompleted(s: SessionState): boolean {
  return s.titleDurationMs !== null && s.furthestMs >= COMPLETED_SHARE * s.titleDurationMs;
}

function view(s: SessionState): RecordView {
  return {
    recordId: s.recordId,
    titleId: s.titleId,
    deviceId: s.deviceId,
    startedAt: new Date(s.startedAt).toISOString(),
    lastEventAt: new Date(s.lastEventAt).toISOString(),
    positionMs: s.positionMs,
    watchedMs: s.watchedMs,
    titleDurationMs: s.titleDurationMs,
    state: s.state,
    completed: isCompleted(s),
  };
}
