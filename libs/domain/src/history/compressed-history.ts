import { PlaybackEvent } from '../events/viewing-event';
import { ViewingRecord } from './viewing-record';
import { MemberControls } from '../settings/member-controls';

/**
 * The distinct playback events folded into one record, in fold order: the record is always the fold of
 * its trail, so a late or re-stamped event of the session can be merged exactly by folding it again.
 */
export type SessionTrail = readonly PlaybackEvent[];

/**
 * What compaction keeps of everything that happened before `compactedBefore`: the folded records,
 * and enough of the deletions that later events of a deleted record stay hidden.
 */
export interface CompressedHistory {
  records: ViewingRecord[];
  /** Records deleted (one by one, or by a clear). Later events of these sessions stay hidden. */
  removedRecordIds: string[];
  /** acceptedAt of the latest "clear history": every record first accepted at or before it is hidden. */
  clearedThrough: number | null;
  /** Compaction folded every event it read before this instant; a later event before it is a late event. */
  compactedBefore: number | null;
  /**
   * The member's settings changes and titles removed, kept whole (they are few): a session whose events
   * arrive after compaction is still judged by them. Undefined: none.
   */
  controls?: MemberControls;
  /**
   * Trails by recordId. Undefined when not loaded (reads load them only when a live event touches a
   * compressed record, see `needsTrails`). A record without a trail is settled (ADR 6; or written before
   * trails existed): its live events wait for a compaction that rebuilds its trail from the event log.
   */
  trails?: ReadonlyMap<string, SessionTrail>;
  /** Loaded with the trails: what each settled record (no trail, ADR 6) keeps of it. Absent: not known. */
  settledDigests?: ReadonlyMap<string, SettledDigest>;
}

/**
 * What a settled record keeps of its trail: how many distinct events it was folded from and the latest
 * acceptance among them (the service's clock, rounded up to the second). A rebuild from the event log must
 * find at least that many events accepted by then: a log holding only part of the session is refused.
 */
export interface SettledDigest {
  /** 0: not known (written before digests). */
  events: number;
  /** Null: not known. */
  lastAcceptedAt: number | null;
}

export const UNKNOWN_SETTLED_DIGEST: SettledDigest = Object.freeze({ events: 0, lastAcceptedAt: null });

export const EMPTY_COMPRESSED_HISTORY: CompressedHistory = Object.freeze({
  records: [],
  removedRecordIds: [],
  clearedThrough: null,
  compactedBefore: null,
  trails: new Map(),
}) as CompressedHistory;
