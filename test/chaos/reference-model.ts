/**
 * The chaos checker's reference model: what the service should answer, from every acknowledged event.
 *
 * Deliberately simple and written apart from libs/domain (it imports nothing from it), so that the
 * service's fold and this model can disagree: keep every event, drop the copies an erasure took, drop
 * repeated eventIds (the earliest stamp wins), sort by (occurredAt, eventId), replay each session from its
 * first event, then hide what removals, clears and the member's controls hide.
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

/** "Remove this title": sessions of the title the service first accepted at or before it go. */
export interface ModelTitleRemovedEvent {
  kind: 'title-removed';
  eventId: string;
  profileId: string;
  titleId: string;
  occurredAt: number;
  acceptedAt: number;
}

/** A change of the profile's settings; a field left out keeps its value. */
export interface ModelSettingsEvent {
  kind: 'settings-changed';
  eventId: string;
  profileId: string;
  recording?: 'on' | 'paused';
  autoDelete?: '3m' | '18m' | '36m' | 'never';
  occurredAt: number;
  acceptedAt: number;
}

/**
 * The mark an erasure of the profile leaves on the log (eventId: the erasure's id). Everything of the
 * profile the service accepted at or before it is gone, controls included; what it accepts later is the
 * profile's new history.
 */
export interface ModelErasureEvent {
  kind: 'profile-erased';
  eventId: string;
  profileId: string;
  occurredAt: number;
  acceptedAt: number;
}

export type ModelEvent =
  | ModelPlaybackEvent
  | ModelRemovalEvent
  | ModelClearEvent
  | ModelTitleRemovedEvent
  | ModelSettingsEvent
  | ModelErasureEvent;

export interface SettingsView {
  recording: 'on' | 'paused';
  autoDelete: '3m' | '18m' | '36m' | 'never';
}

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

/**
 * Whether an erasure took this copy of an event. The ONE place the erasure rule lives: a copy the service
 * accepted at or before the latest erasure's acceptance is gone (service clock only); a later copy counts,
 * as a new life of the profile. Judged per copy, before repeats are merged, so a copy from before the mark
 * cannot lend its early acceptance to one after it.
 */
export function erasedBy(event: ModelEvent, erasures: readonly ModelErasureEvent[]): boolean {
  return erasures.some((erasure) => event.acceptedAt <= erasure.acceptedAt);
}

const MONTHS = { '3m': 3, '18m': 18, '36m': 36, never: 0 } as const;

/** The settings events that set `field`, oldest acceptance first (ties: eventId). */
function changesOf(settings: readonly ModelSettingsEvent[], field: 'recording' | 'autoDelete'): ModelSettingsEvent[] {
  return settings
    .filter((e) => e[field] !== undefined)
    .sort((a, b) => a.acceptedAt - b.acceptedAt || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
}

/**
 * The member's controls, the ONE place their rules live in the model; service clock only (invariant 6):
 * - a removed title hides its sessions first accepted at or before the removal;
 * - a session first accepted while recording was paused (the last recording change accepted at or before
 *   that instant says paused) is hidden, whole;
 * - auto-delete: the session was last seen (service clock) at its first acceptance plus its length on the
 *   device's clock; it is gone if, while some period was in force and no later than `now`, that was more
 *   than the period (calendar months, UTC) ago.
 */
export function hiddenByControls(
  session: SessionState,
  titlesRemoved: readonly ModelTitleRemovedEvent[],
  settings: readonly ModelSettingsEvent[],
  now: number,
): boolean {
  if (titlesRemoved.some((r) => r.titleId === session.titleId && session.firstAcceptedAt <= r.acceptedAt)) return true;
  const recording = changesOf(settings, 'recording').filter((e) => e.acceptedAt <= session.firstAcceptedAt);
  if (recording.length && recording[recording.length - 1].recording === 'paused') return true;
  const periods = changesOf(settings, 'autoDelete');
  const lastSeen = session.firstAcceptedAt + Math.max(0, session.lastEventAt - session.startedAt);
  return periods.some((change, i) => {
    const months = MONTHS[change.autoDelete!];
    if (months === 0) return false;
    const until = i + 1 < periods.length ? periods[i + 1].acceptedAt : Number.POSITIVE_INFINITY;
    const expiry = new Date(lastSeen);
    expiry.setUTCMonth(expiry.getUTCMonth() + months);
    // Some instant m with change.acceptedAt <= m < until, m <= now and m > expiry.
    const first = Math.max(change.acceptedAt, expiry.getTime() + 1);
    return first < until && first <= now;
  });
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

  /** The settings in force once every change is in: the latest accepted change of each, else the defaults. */
  settings(profileId: string): SettingsView {
    const settings = this.survivors(profileId).filter((e): e is ModelSettingsEvent => e.kind === 'settings-changed');
    const recording = changesOf(settings, 'recording').pop()?.recording ?? 'on';
    const autoDelete = changesOf(settings, 'autoDelete').pop()?.autoDelete ?? 'never';
    return { recording, autoDelete };
  }

  /** Sessions of a profile an erasure took whole (every event of theirs accepted before a mark). */
  erasedRecordIds(profileId: string): Set<string> {
    const all = this.events.get(profileId) ?? [];
    const kept = new Set(this.survivors(profileId).map((e) => e.eventId));
    const ids = new Set<string>();
    for (const e of all) if (e.kind === 'playback' && !kept.has(e.eventId)) ids.add(e.playbackSessionId);
    for (const e of this.survivors(profileId)) if (e.kind === 'playback') ids.delete(e.playbackSessionId);
    return ids;
  }

  /**
   * What the model knows of one record, for a difference's report: every copy of its events and every
   * deletion or control of the profile that could hide it, with the service's acceptance times.
   */
  explain(profileId: string, recordId: string): unknown[] {
    const iso = (t: number) => new Date(t).toISOString();
    const all = this.events.get(profileId) ?? [];
    const titles = new Set(
      all
        .filter((e) => e.kind === 'playback' && e.playbackSessionId === recordId)
        .map((e) => (e as ModelPlaybackEvent).titleId),
    );
    return all
      .filter(
        (e) =>
          (e.kind === 'playback' && e.playbackSessionId === recordId) ||
          (e.kind === 'record-removed' && e.recordId === recordId) ||
          (e.kind === 'title-removed' && titles.has(e.titleId)) ||
          e.kind === 'settings-changed' ||
          e.kind === 'history-cleared' ||
          e.kind === 'profile-erased',
      )
      .sort((a, b) => a.acceptedAt - b.acceptedAt)
      .map((e) => {
        const { profileId: _p, acceptedAt, occurredAt, ...rest } = e;
        const short =
          e.kind === 'playback' ? { kind: e.kind, eventId: e.eventId, type: e.type, positionMs: e.positionMs } : rest;
        return { acceptedAt: iso(acceptedAt), occurredAt: iso(occurredAt), ...short };
      });
  }

  /** Visible records at `now` (auto-delete; without it, none applies), newest first (startedAt, then recordId, both descending). */
  history(profileId: string, now = Number.NEGATIVE_INFINITY): RecordView[] {
    const sessions = this.visibleSessions(profileId, now);
    sessions.sort(
      (a, b) => b.startedAt - a.startedAt || (a.recordId < b.recordId ? 1 : a.recordId > b.recordId ? -1 : 0),
    );
    return sessions.map(view);
  }

  /** Per title the most recently active record, if unfinished; most recent first. */
  continueWatching(profileId: string, limit: number, now = Number.NEGATIVE_INFINITY): RecordView[] {
    const latest = new Map<string, SessionState>();
    for (const s of this.visibleSessions(profileId, now)) {
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

  /** The copies of a profile's events no erasure took, erasure marks left out. */
  private survivors(profileId: string): ModelEvent[] {
    const all = this.events.get(profileId) ?? [];
    const erasures = all.filter((e): e is ModelErasureEvent => e.kind === 'profile-erased');
    return all.filter((e) => e.kind !== 'profile-erased' && !erasedBy(e, erasures));
  }

  private visibleSessions(profileId: string, now: number): SessionState[] {
    const distinct = new Map<string, ModelEvent>();
    for (const event of this.survivors(profileId)) {
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
    const titlesRemoved: ModelTitleRemovedEvent[] = [];
    const settings: ModelSettingsEvent[] = [];
    for (const event of ordered) {
      if (event.kind === 'record-removed') removed.add(event.recordId);
      else if (event.kind === 'history-cleared') clears.push(event);
      else if (event.kind === 'title-removed') titlesRemoved.push(event);
      else if (event.kind === 'settings-changed') settings.push(event);
      else if (event.kind === 'playback') replay(sessions, event);
    }
    return [...sessions.values()].filter(
      (s) =>
        !removed.has(s.recordId) && !hiddenByClear(s, clears) && !hiddenByControls(s, titlesRemoved, settings, now),
    );
  }
}

/**
 * Same eventId twice: the earlier stamp wins; equal stamps, the smaller content (any fixed choice). Either
 * way the event was accepted when the service first took any copy (a device re-posting or re-stamping an
 * event after a clear does not un-clear it).
 */
function oneOf(a: ModelEvent, b: ModelEvent): ModelEvent {
  const kept =
    a.occurredAt !== b.occurredAt ? (a.occurredAt < b.occurredAt ? a : b) : contentKey(a) < contentKey(b) ? a : b;
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
