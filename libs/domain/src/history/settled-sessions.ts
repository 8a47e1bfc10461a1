import { acceptanceOf, compareEvents, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { ViewingRecord } from './viewing-record';
import { ViewingHistoryError } from '../errors';
import { CompressedHistory, SessionTrail, SettledDigest, UNKNOWN_SETTLED_DIGEST } from './compressed-history';
import { addDistinct, foldHistory, foldSession } from './history-fold';

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

/**
 * Whether a trail may be settled: every event in it was accepted before `settleBefore`, both the service's
 * clock. An event stored before acceptance times existed has only device time: never settled (invariant 6).
 */
export function mayBeSettled(trail: SessionTrail, settleBefore: number): boolean {
  return trail.length > 0 && trail.every((event) => event.acceptedAt !== undefined && event.acceptedAt < settleBefore);
}

/**
 * The settled records that live playback events touch, as the fold finds them (a removed record needs no
 * rebuild: it stays hidden): the compactor rebuilds their trails. Every live row counts, those at
 * or after the cutoff too, so that the trail is back before readers fold them.
 */
export function settledSessionsTouched(compressed: CompressedHistory, liveEvents: readonly ViewingEvent[]): string[] {
  const trails = compressed.trails;
  if (trails === undefined) return [];
  // Only a live session of a stored record without a trail can be one; the fold (which judges deletions as
  // readers do) runs only then. The compactor and compactHistory each ask once per run.
  const settled = new Set(compressed.records.filter((r) => !trails.has(r.recordId)).map((r) => r.recordId));
  if (!liveEvents.some((e) => 'playbackSessionId' in e && settled.has(e.playbackSessionId))) return [];
  return foldHistory(liveEvents, compressed).settledSessionsTouched;
}

/**
 * The compressed history with the trails of these settled sessions rebuilt from the profile's events on the
 * log, each record folded again from its trail. The log holds every event the record folded, and may hold
 * more of the session (its late events, re-driven letters, any not yet ingested): the fold counts each
 * distinct event once, wherever it comes from (invariant 1).
 *
 * Refused, never guessed, when the log may lack what the record counted (another region's log, partitions
 * added, a topic moved or truncated, events sealed with an erased key): it must hold at least as many
 * distinct events of the session accepted by the record's last acceptance as the record was folded from
 * (its digest). Late events, accepted after it, cannot make up for missing ones.
 */
export function withTrailsFromEventLog(
  compressed: CompressedHistory,
  logEvents: readonly ViewingEvent[],
  sessions: readonly string[],
): CompressedHistory {
  const wanted = new Set(sessions);
  const copies = new Map<string, PlaybackEvent[]>();
  for (const event of logEvents) {
    if (!('playbackSessionId' in event) || !wanted.has(event.playbackSessionId)) continue;
    const session = copies.get(event.playbackSessionId);
    if (session === undefined) copies.set(event.playbackSessionId, [event]);
    else session.push(event);
  }
  const profileId = compressed.records[0]?.profileId ?? '?';
  const storedRecords = new Map(compressed.records.map((r) => [r.recordId, r]));
  const trails = new Map(compressed.trails);
  const rebuilt = new Map<string, ViewingRecord>();
  for (const id of sessions) {
    const ofSession = copies.get(id) ?? [];
    const digest = compressed.settledDigests?.get(id) ?? UNKNOWN_SETTLED_DIGEST;
    // Every event the record counted has a copy accepted by its last acceptance (the earliest counts).
    const by = digest.lastAcceptedAt ?? Number.POSITIVE_INFINITY;
    const acceptedBy = new Set(ofSession.filter((e) => acceptanceOf(e) <= by).map((e) => e.eventId)).size;
    if (acceptedBy < Math.max(1, digest.events)) {
      const counted = digest.events > 0 ? `${digest.events}` : 'some';
      const why = `the event log holds ${acceptedBy} event(s) of it accepted by its last, it counted ${counted}`;
      throw new SettledSessionNotRebuiltError(profileId, [id], why);
    }
    const distinct = new Map<string, PlaybackEvent>();
    for (const event of ofSession) addDistinct(distinct, event);
    const trail = [...distinct.values()].sort(compareEvents);
    const record = foldSession(trail);
    // More events only move a first acceptance earlier: a later one means the log lacks an original.
    if (digest.events > 0 && record.firstAcceptedAt > storedRecords.get(id)!.firstAcceptedAt) {
      const why = 'its events on the event log were first accepted later than the record was';
      throw new SettledSessionNotRebuiltError(profileId, [id], why);
    }
    trails.set(id, trail);
    rebuilt.set(id, record);
  }
  return { ...compressed, records: compressed.records.map((r) => rebuilt.get(r.recordId) ?? r), trails };
}

/** What a record settled now keeps of its trail (see SettledDigest). */
export function digestOf(trail: SessionTrail): SettledDigest {
  let last: number | null = null;
  for (const event of trail)
    if (event.acceptedAt !== undefined && (last === null || event.acceptedAt > last)) last = event.acceptedAt;
  return { events: trail.length, lastAcceptedAt: last };
}

/**
 * What a trail chunk stores of a settled record's id: its first 32 bits (ids are random UUIDs). A live
 * session with the fingerprint of a settled record may be another session (odds: settled ids in the chunk
 * over 2^32): the read then takes the whole history, which finds the truth by full id.
 */
export function settledIdFingerprint(recordId: string): number {
  return Number.parseInt(recordId.slice(0, 8), 16);
}
