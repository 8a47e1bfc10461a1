import { acceptanceOf, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { ViewingHistoryError } from '../errors';
import { CompressedHistory, SessionTrail } from './compressed-history';
import { addDistinct, foldSession } from './history-fold';
import { compareEvents } from '../events/viewing-event';

/**
 * Settling (docs/adr/0006): a record whose session's events were all accepted long enough ago keeps no trail
 * (the trail is most of a compressed record's bytes), only a fingerprint of its id in the trail chunks
 * (`settledIdFingerprint`), so that paged reads know a live session may touch it. The event log keeps every
 * event, so a live event that later touches a settled record is folded exactly once its trail is rebuilt
 * from the log; nothing is ever taken as "already counted" without its events.
 */

/** A live event touches a settled record whose trail could not be rebuilt: compacting it would lose it. */
export class SettledSessionNotRebuiltError extends ViewingHistoryError {
  readonly code = 'settled_session_not_rebuilt';
  constructor(profileId: string, sessions: readonly string[], why: string) {
    super(`${profileId}: live events touch ${sessions.length} settled record(s) (${sessions[0]}, …): ${why}`);
  }
}

/** Whether a trail may be settled: every event in it was accepted before `settleBefore` (the service's clock). */
export function mayBeSettled(trail: SessionTrail, settleBefore: number): boolean {
  return trail.length > 0 && trail.every((event) => acceptanceOf(event) < settleBefore);
}

/** The sessions of live playback events whose compressed record is settled: their trails must be rebuilt. */
export function settledSessionsTouched(compressed: CompressedHistory, liveEvents: readonly ViewingEvent[]): string[] {
  if (compressed.trails === undefined) return [];
  const stored = new Set(compressed.records.map((r) => r.recordId));
  const touched = new Set<string>();
  for (const event of liveEvents) {
    if (!('playbackSessionId' in event) || !stored.has(event.playbackSessionId)) continue;
    if (!compressed.trails.has(event.playbackSessionId)) touched.add(event.playbackSessionId);
  }
  return [...touched];
}

/**
 * The compressed history with the trails of these settled sessions rebuilt from the profile's events on the
 * log, each record folded again from its trail. The log holds every event the record folded, and may hold
 * more of the session (its late events, and any not yet ingested): the fold counts each distinct event once,
 * wherever it comes from (invariant 1). A session the log does not hold (truncated, or sealed with an erased
 * key) is refused: the record would lose what it counted.
 */
export function withTrailsFromEventLog(
  compressed: CompressedHistory,
  logEvents: readonly ViewingEvent[],
  sessions: readonly string[],
): CompressedHistory {
  const wanted = new Set(sessions);
  const bySession = new Map<string, Map<string, PlaybackEvent>>();
  for (const event of logEvents) {
    if (!('playbackSessionId' in event) || !wanted.has(event.playbackSessionId)) continue;
    let session = bySession.get(event.playbackSessionId);
    if (session === undefined) bySession.set(event.playbackSessionId, (session = new Map()));
    addDistinct(session, event);
  }
  const missing = sessions.filter((id) => !bySession.has(id));
  if (missing.length > 0) {
    const profileId = compressed.records[0]?.profileId ?? '?';
    throw new SettledSessionNotRebuiltError(profileId, missing, 'the event log holds none of their events');
  }
  const trails = new Map(compressed.trails);
  const rebuilt = new Map<string, ReturnType<typeof foldSession>>();
  for (const [id, events] of bySession) {
    const trail = [...events.values()].sort(compareEvents);
    trails.set(id, trail);
    rebuilt.set(id, foldSession(trail));
  }
  return { ...compressed, records: compressed.records.map((r) => rebuilt.get(r.recordId) ?? r), trails };
}

/**
 * What a trail chunk stores of a settled record's id: its first 32 bits (ids are random UUIDs). A live
 * session with the fingerprint of a settled record may be another session (odds: settled ids in the chunk
 * over 2^32): the read then takes the whole history, which finds the truth by full id.
 */
export function settledIdFingerprint(recordId: string): number {
  return Number.parseInt(recordId.slice(0, 8), 16);
}
