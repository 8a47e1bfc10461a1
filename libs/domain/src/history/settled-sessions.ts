import { acceptanceOf, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { ViewingRecord } from './viewing-record';
import { ViewingHistoryError } from '../errors';
import { CompressedHistory, SessionTrail } from './compressed-history';
import { addDistinct, foldHistory, foldSession } from './history-fold';
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

/**
 * Whether a trail may be settled: every event in it was accepted before `settleBefore`, both the service's
 * clock. An event stored before acceptance times existed has only device time: never settled (invariant 6).
 */
export function mayBeSettled(trail: SessionTrail, settleBefore: number): boolean {
  return trail.length > 0 && trail.every((event) => event.acceptedAt !== undefined && event.acceptedAt < settleBefore);
}

/**
 * The settled records that live playback events touch, as the fold finds them (a removed or cleared record
 * needs no rebuild: it stays hidden): the compactor rebuilds their trails. Every live row counts, those at
 * or after the cutoff too, so that the trail is back before readers fold them.
 */
export function settledSessionsTouched(compressed: CompressedHistory, liveEvents: readonly ViewingEvent[]): string[] {
  if (compressed.trails === undefined) return [];
  return foldHistory(liveEvents, compressed).settledSessionsTouched;
}

/**
 * The compressed history with the trails of these settled sessions rebuilt from the profile's events on the
 * log, each record folded again from its trail. The log holds every event the record folded, and may hold
 * more of the session (its late events, and any not yet ingested): the fold counts each distinct event once,
 * wherever it comes from (invariant 1).
 *
 * Refused, never guessed, when the log may lack what the record counted (another region's log, partitions
 * added, a topic moved or truncated, events sealed with an erased key): the log must hold at least as many
 * distinct events as the record was folded from, and the events accepted up to some instant must fold to
 * exactly the stored record (the late events were accepted after it; one accepted before the record's
 * others but ingested a whole trail window late is refused too, for `cli repair`).
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
  const stored = new Map(compressed.records.map((r) => [r.recordId, r]));
  const profileId = compressed.records[0]?.profileId ?? '?';
  const trails = new Map(compressed.trails);
  const rebuilt = new Map<string, ViewingRecord>();
  for (const id of sessions) {
    const record = stored.get(id)!;
    const distinct = new Map<string, PlaybackEvent>();
    for (const event of copies.get(id) ?? []) addDistinct(distinct, event);
    const counted = compressed.settledEventCounts?.get(id) ?? 0;
    if (distinct.size < Math.max(1, counted)) {
      const why = `the event log holds ${distinct.size} distinct event(s) of it, which counted ${counted || 'some'}`;
      throw new SettledSessionNotRebuiltError(profileId, [id], why);
    }
    if (!foldsToRecordUpToSomeAcceptance(copies.get(id)!, record)) {
      const why = 'no events of it on the event log, accepted up to any instant, fold to the stored record';
      throw new SettledSessionNotRebuiltError(profileId, [id], why);
    }
    const trail = [...distinct.values()].sort(compareEvents);
    trails.set(id, trail);
    rebuilt.set(id, foldSession(trail));
  }
  return { ...compressed, records: compressed.records.map((r) => rebuilt.get(r.recordId) ?? r), trails };
}

/** Whether the copies accepted up to one of their acceptance instants fold to exactly this record. */
function foldsToRecordUpToSomeAcceptance(copies: readonly PlaybackEvent[], record: ViewingRecord): boolean {
  const byAcceptance = [...copies].sort((a, b) => acceptanceOf(a) - acceptanceOf(b));
  const distinct = new Map<string, PlaybackEvent>();
  for (let i = 0; i < byAcceptance.length; i++) {
    addDistinct(distinct, byAcceptance[i]);
    if (i + 1 < byAcceptance.length && acceptanceOf(byAcceptance[i + 1]) === acceptanceOf(byAcceptance[i])) continue;
    if (sameRecord(foldSession([...distinct.values()].sort(compareEvents)), record)) return true;
  }
  return false;
}

const RECORD_FIELDS = [
  'recordId',
  'titleId',
  'deviceId',
  'startedAt',
  'lastEventAt',
  'positionMs',
  'maxPositionMs',
  'watchedMs',
  'state',
  'titleDurationMs',
  'firstAcceptedAt',
] as const satisfies readonly (keyof ViewingRecord)[];

function sameRecord(a: ViewingRecord, b: ViewingRecord): boolean {
  return RECORD_FIELDS.every((field) => a[field] === b[field]);
}

/**
 * What a trail chunk stores of a settled record's id: its first 32 bits (ids are random UUIDs). A live
 * session with the fingerprint of a settled record may be another session (odds: settled ids in the chunk
 * over 2^32): the read then takes the whole history, which finds the truth by full id.
 */
export function settledIdFingerprint(recordId: string): number {
  return Number.parseInt(recordId.slice(0, 8), 16);
}
