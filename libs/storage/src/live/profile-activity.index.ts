import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { createHash } from 'node:crypto';
import { AppConfig } from '@vh/config';
import { dailySweepReasons, DailySweepReason, visitedDaily } from '@vh/domain';
import { decodeMemberControls } from '../compressed/member-controls.codec';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { settleWithConcurrency } from '../concurrency';
import { RecentlyRecorded } from './recently-recorded';
import { writeTimeAfter } from './write-time-after';
import { ProfileActivityBuckets } from '../ports/profile-activity.buckets';
import { ProfileActivityDays } from '../ports/profile-activity.days';

/** `USING TIMESTAMP ?` when `dated`: the write time (microseconds) is bound first in an UPDATE, last in an INSERT. */
const usingTimestamp = (dated: boolean) => (dated ? ' USING TIMESTAMP ?' : '');
/**
 * Notes a profile for the daily sweep, with why (`reasons`, a set: each writer adds its own; migration 10), in
 * `profile_auto_delete` (migration 8, named for its first reason; rows from before 10 have no reasons: auto-delete).
 * Params: the reasons, the shard, the profile (after the write time when `dated`).
 */
export const noteForDailySweep = (keyspace: string, dated = false) =>
  `UPDATE ${keyspace}.profile_auto_delete${usingTimestamp(dated)} SET reasons = reasons + ? WHERE shard = ? AND profile_id = ?`;
/**
 * A note naming the settings behind it (migration 12): the pauses and the periods, by eventId. Ingest names the one
 * it writes; a compaction its version's. Params: the reasons, the pauses, the periods, the shard, the profile (after
 * the write time when `dated`).
 */
export const noteNamedForDailySweep = (keyspace: string, dated = false) =>
  `UPDATE ${keyspace}.profile_auto_delete${usingTimestamp(dated)} SET reasons = reasons + ?, pauses = pauses + ?, periods = periods + ? WHERE shard = ? AND profile_id = ?`;
/**
 * Named settings found erased (`erasedSince`, migration 12). Plain and add-only like every write of the table but
 * the eraser's delete: never Paxos on a partition of a sixteenth of all profiles (contention), nor Paxos and client
 * timestamps mixed on a row (invariant 6). One landing after an erasure recreates a row naming only erased
 * settings, which the sweep does not visit (ADR 9). Params: the eventIds, the shard, the profile.
 */
export const noteErasedForDailySweep = (keyspace: string) =>
  `UPDATE ${keyspace}.profile_auto_delete SET erased = erased + ? WHERE shard = ? AND profile_id = ?`;
/**
 * A compaction's note of the pauses it finished (`pausesFinishedBy`, migration 12), in both sets: a row noted
 * before pauses were named (migration 10's backfill, an older ingest) names them then. Plain and add-only, as above.
 * Params: the pauses twice, the shard, the profile.
 */
export const notePausesFinished = (keyspace: string) =>
  `UPDATE ${keyspace}.profile_auto_delete SET pauses = pauses + ?, pauses_finished = pauses_finished + ? WHERE shard = ? AND profile_id = ?`;
/** Buckets per day: bounds a day's partition at Netflix scale; the sweep reads all of them. */
export const ACTIVITY_SHARDS = 16;
const DAY_MS = 86_400_000;
/** The rows live 90 days (the table's TTL); remembering one for an hour means it surely still exists. */
const REMEMBER_MS = 3_600_000;
const REMEMBER_MAX = 200_000;
/** How often the erasure markers are read before trusting what is remembered (ADR 9). */
const MARKER_REFRESH_MS = 5_000;
/** How long an erasure marker lives (`profile_index_erasures`' TTL, migration 11). */
export const INDEX_ERASURE_MARKER_TTL_SECONDS = 600;
/**
 * Markers unread for longer than this may have come and gone unseen: nothing remembered is trusted then. Half a
 * marker's life: the margin covers a marker written just before the previous read and this process's measure of
 * the time against Cassandra's (a duration each, no instants compared; invariant 6).
 */
const MARKERS_UNSEEN_AFTER_MS = (INDEX_ERASURE_MARKER_TTL_SECONDS * 1000) / 2;
/** How long this process watches a profile it erased for another process's late delete of its rows. */
const WATCH_OWN_ERASURE_MS = 86_400_000;
/**
 * Rows of one (day, shard) partition written as one unlogged batch: a single mutation, about 2 KB, under
 * Cassandra's batch size warning (5 KB). A replay by a fresh process (nothing remembered yet) wrote one
 * request per (day, profile), as many requests as the live rows themselves took (issue 14).
 */
const ROWS_PER_BATCH = 50;

interface ActivityRow {
  /** What `recorded` remembers the row by once written. */
  key: string;
  table: string;
  /** The day of the row's partition; none for the daily sweep's table. */
  day: string | null;
  shard: number;
  profileId: string;
  /** Why the daily sweep visits the profile (its table only). */
  reason?: DailySweepReason;
  /** The eventId of the setting behind the note (its table only; migration 12). */
  settingId?: string;
}

/** What the index reads of an event: a settings change with a period or a pause also notes its profile. */
export interface ActivityEvent {
  profileId: string;
  /** Names a setting in the daily sweep's row (without it, as before migration 12: visited until a compaction names it). */
  eventId?: string;
  occurredAt: number;
  type?: string;
  autoDelete?: string;
  recording?: string;
}

/**
 * Which profiles received events on which (event-time) day: how compaction finds work without scans.
 * Events for a day the sweep may already have passed are also noted under the day they arrived
 * (`profile_late_activity`), so the sweep catches up on backfills (issue 11 §6).
 */
@Injectable()
export class ProfileActivityIndex implements ProfileActivityDays, ProfileActivityBuckets {
  private readonly table: string;
  private readonly lateTable: string;
  private readonly dailySweepTable: string;
  /** Most batches of the event log touch the same (day, profile) pairs again: skip rewriting them. */
  private readonly recorded = new RecentlyRecorded<ActivityRow>(REMEMBER_MAX, REMEMBER_MS);
  /**
   * The last erasure marker seen per profile (`profile_index_erasures`, written after an erasure deleted the
   * profile's index rows), and whether this process ran that erasure itself (then until when it watches).
   */
  private readonly markers = new Map<string, { marker: string; ownUntil: number | null }>();
  private markersReadAt = Number.NEGATIVE_INFINITY;
  /** Remembered rows another process's late erasure deleted: written again with the next call. */
  private readonly rewrites = new Map<string, ActivityRow>();

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.table = `${config.cassandra.keyspace}.profile_activity`;
    this.lateTable = `${config.cassandra.keyspace}.profile_late_activity`;
    this.dailySweepTable = `${config.cassandra.keyspace}.profile_auto_delete`;
  }

  /**
   * Rows may have been deleted by another process (an erasure it ran): every next event writes its rows again.
   * The rows waiting to be written again go too: the partition may be another process's now, which may meet a
   * later erasure of the profile; written after that erasure's delete, they would bring an erased profile back
   * into the indexes (its daily-sweep row for good; review, session 8).
   */
  forgetAll(): void {
    this.recorded.forgetWhere(() => true);
    this.rewrites.clear();
  }

  /** The profile's rows were deleted (an erasure): its next events must write them again. */
  forgetProfile(profileId: string): void {
    this.forgetRowsOf(profileId);
  }

  /** Forgets the profile's rows, and those waiting to be written again; answers those it still remembered. */
  private forgetRowsOf(profileId: string): ActivityRow[] {
    for (const [key, row] of this.rewrites) if (row.profileId === profileId) this.rewrites.delete(key);
    return this.recorded.forgetWhere((_, row) => row.profileId === profileId);
  }

  /**
   * This process erased the profile's index rows and wrote `marker` after: what it writes from now on is the
   * profile's new history, which another process's late delete of the same erasure (a partition's previous
   * owner, stalled in the batch with the mark) may remove; a marker other than this one says it did (ADR 9).
   */
  erased(profileId: string, marker: string, now = Date.now()): void {
    this.forgetProfile(profileId);
    this.markers.set(profileId, { marker, ownUntil: now + WATCH_OWN_ERASURE_MS });
  }

  /**
   * Notes each event's (day, profile), and its arrival day too when it is late. Blind and idempotent: one
   * row per (day, profile) whatever the number of events. Each row not written recently is written, grouped
   * by partition into unlogged batches, `concurrency` in flight. Answers the `activityKey`s of the events
   * whose rows could not be written, with the error (their events must be retried: compaction would miss
   * the profile otherwise). `writtenAfterUs`: by profile, a write time its rows must be dated after (an
   * erasure's tombstone ahead of our clock, which dated the delete of its index rows; AppendOptions).
   */
  async recordMany(
    events: readonly ActivityEvent[],
    concurrency: number,
    now = Date.now(),
    writtenAfterUs?: ReadonlyMap<string, number>,
  ): Promise<Map<string, unknown>> {
    // What is remembered is trusted only against the erasure markers: a row another process deleted since is
    // written again (a marker read that fails trusts nothing this call; invariant 2: no profile missed).
    const trusted = await this.readMarkers(now);
    /** For each row to write, the activityKeys of the events that need it. */
    const neededBy = new Map<string, string[]>();
    const partitions = new Map<string, ActivityRow[]>();
    /** Whether the row is written already, or by this call (then the event joins those that need it). */
    const known = (key: string, eventKey: string | null): boolean => {
      const owners = neededBy.get(key);
      if (owners !== undefined) {
        if (eventKey !== null && owners[owners.length - 1] !== eventKey) owners.push(eventKey);
        return true;
      }
      return trusted && this.recorded.has(key);
    };
    const add = (row: ActivityRow, eventKey: string | null) => {
      neededBy.set(row.key, eventKey === null ? [] : [eventKey]);
      const partition = `${row.table}|${row.day}|${row.shard}`;
      const rows = partitions.get(partition);
      if (rows) rows.push(row);
      else partitions.set(partition, [row]);
    };
    const need = (row: ActivityRow, eventKey: string | null) => {
      if (!known(row.key, eventKey)) add(row, eventKey);
    };
    // Most events' rows are known (the same day and profile as an event before): no row is built for them.
    for (const { profileId, eventId, occurredAt, type, autoDelete, recording } of events) {
      const key = activityKey(profileId, occurredAt);
      if (!known(key, key)) {
        add({ key, table: this.table, day: dayOf(occurredAt), shard: shardOf(profileId), profileId }, key);
      }
      if (isLateArrival(occurredAt, now, this.config.compaction.minAgeMs)) {
        const lateKey = `late|${activityKey(profileId, now)}`;
        if (!known(lateKey, key)) {
          add({ key: lateKey, table: this.lateTable, day: dayOf(now), shard: shardOf(profileId), profileId }, key);
        }
      }
      if (type === 'settings-changed') {
        for (const reason of dailySweepReasons({ settingsChanges: [{ autoDelete, recording }] })) {
          // Each setting is noted by its id (remembered per setting): one not named could be finished by no compaction.
          const row = {
            key: `daily|${reason}|${profileId}${eventId === undefined ? '' : `|${eventId}`}`,
            table: this.dailySweepTable,
            day: null,
            shard: shardOf(profileId),
            profileId,
          };
          need({ ...row, reason, ...(eventId === undefined ? {} : { settingId: eventId }) }, key);
        }
      }
    }
    for (const row of this.rewrites.values()) need(row, null);
    const batches: ActivityRow[][] = [];
    for (const rows of partitions.values())
      for (let i = 0; i < rows.length; i += ROWS_PER_BATCH) batches.push(rows.slice(i, i + ROWS_PER_BATCH));
    const options = {
      prepare: true,
      consistency: consistency(this.config.cassandra.writeConsistency),
      isIdempotent: true,
    };
    const statement = (row: ActivityRow) => {
      const writeTime = writeTimeAfter(writtenAfterUs, row.profileId);
      return writeTime === null
        ? { query: this.insertOf(row, false), params: paramsOf(row) }
        : datedWrite(this.insertOf(row, true), row, writeTime);
    };
    const results = await settleWithConcurrency(batches, concurrency, (rows) => {
      if (rows.length > 1) return this.client.batch(rows.map(statement), { ...options, logged: false });
      const { query, params } = statement(rows[0]);
      return this.client.execute(query, params, options);
    });
    const failed = new Map<string, unknown>();
    results.forEach((result, i) => {
      for (const row of batches[i]) {
        if (result.status !== 'fulfilled') {
          for (const eventKey of neededBy.get(row.key)!) failed.set(eventKey, result.reason);
          continue;
        }
        this.recorded.add(row.key, row);
        this.rewrites.delete(row.key);
      }
    });
    return failed;
  }

  /**
   * Reads the erasure markers (every MARKER_REFRESH_MS at most): a marker that changed means another process
   * deleted the profile's index rows. For a profile this process erased itself (it then met the same mark:
   * the old owner's batch was not committed), what it remembers is the new history's rows: written again,
   * event or not. For another, what it remembers may be the erased history's: only forgotten. Markers unread
   * for longer than MARKERS_UNSEEN_AFTER_MS (no batch, failed reads) may have expired unseen: everything
   * remembered is forgotten, and the rows of the profiles it erased itself are written again. False when the
   * markers could not be read.
   */
  private async readMarkers(now: number): Promise<boolean> {
    if (now - this.markersReadAt < MARKER_REFRESH_MS) return true;
    const unseen = now - this.markersReadAt > MARKERS_UNSEEN_AFTER_MS;
    const seen = new Map<string, string>();
    try {
      const ks = this.config.cassandra.keyspace;
      const results = await Promise.all(
        Array.from({ length: ACTIVITY_SHARDS }, (_, shard) =>
          this.client.execute(`SELECT profile_id, marker FROM ${ks}.profile_index_erasures WHERE shard = ?`, [shard], {
            prepare: true,
            consistency: consistency(this.config.cassandra.readConsistency),
            isIdempotent: true,
          }),
        ),
      );
      for (const result of results) {
        for (const row of result.rows) seen.set(String(row.get('profile_id')), String(row.get('marker')));
      }
    } catch {
      return false;
    }
    this.markersReadAt = now;
    for (const [profileId, marker] of seen) {
      const known = this.markers.get(profileId);
      if (known?.marker === marker) continue;
      const own = this.watching(profileId, now);
      for (const row of this.forgetRowsOf(profileId)) if (own) this.rewrites.set(row.key, row);
      this.markers.set(profileId, { marker, ownUntil: own ? known!.ownUntil : null });
    }
    if (unseen) {
      for (const row of this.recorded.forgetWhere(() => true)) {
        if (this.watching(row.profileId, now)) this.rewrites.set(row.key, row);
      }
    }
    // Markers expire (their TTL): those not seen again are dropped, but this process's own erasures.
    for (const [profileId] of this.markers) {
      if (!seen.has(profileId) && !this.watching(profileId, now)) this.markers.delete(profileId);
    }
    return true;
  }

  /** Whether this process erased the profile itself (at a mark) recently enough to watch for a late delete. */
  private watching(profileId: string, now: number): boolean {
    const ownUntil = this.markers.get(profileId)?.ownUntil;
    return ownUntil != null && ownUntil > now;
  }

  /** `dated`: at a given write time (see `datedWrite` for where it is bound). */
  private insertOf({ table, settingId }: ActivityRow, dated: boolean): string {
    const ks = this.config.cassandra.keyspace;
    if (table === this.dailySweepTable)
      return settingId === undefined ? noteForDailySweep(ks, dated) : noteNamedForDailySweep(ks, dated);
    const columns = table === this.table ? 'day, shard, profile_id' : 'arrival_day, shard, profile_id';
    return `INSERT INTO ${table} (${columns}) VALUES (?, ?, ?)${usingTimestamp(dated)}`;
  }

  /**
   * Profiles the first scheduled sweep of each day visits, shard by shard: those with a period not erased, and
   * those with a pause neither finished nor erased (`visitedDaily`, ADR 8).
   */
  async *profilesSweptDaily(): AsyncGenerator<string> {
    const rows = this.scanRows(
      `SELECT profile_id, reasons, pauses, pauses_finished, periods, erased FROM ${this.dailySweepTable} WHERE shard = ?`,
      null,
    );
    const set = (value: unknown) => (value as string[] | null) ?? [];
    for await (const row of rows) {
      const note = {
        reasons: set(row.get('reasons')),
        pauses: set(row.get('pauses')),
        pausesFinished: set(row.get('pauses_finished')),
        periods: set(row.get('periods')),
        erased: set(row.get('erased')),
      };
      if (visitedDaily(note)) yield row.get('profile_id') as string;
    }
  }

  /** Profiles with events on the day containing `instant`, shard by shard. */
  profilesActiveOn(instant: number): AsyncGenerator<string> {
    return this.scan(`SELECT profile_id FROM ${this.table} WHERE day = ? AND shard = ?`, instant);
  }

  /** Profiles that received, on the day containing `instant`, events of a day the sweep may have passed. */
  profilesArrivedLateOn(instant: number): AsyncGenerator<string> {
    return this.scan(`SELECT profile_id FROM ${this.lateTable} WHERE arrival_day = ? AND shard = ?`, instant);
  }

  /** `instant` null: the table has no day. */
  private async *scan(query: string, instant: number | null): AsyncGenerator<string> {
    for await (const row of this.scanRows(query, instant)) yield row.get('profile_id') as string;
  }

  private async *scanRows(query: string, instant: number | null): AsyncGenerator<types.Row> {
    for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
      let result;
      try {
        result = await this.client.execute(query, instant === null ? [shard] : [dayOf(instant), shard], {
          prepare: true,
          fetchSize: 5_000,
          consistency: consistency(this.config.cassandra.readConsistency),
          isIdempotent: true,
        });
      } catch (error) {
        throw asStorageError(error);
      }
      for await (const row of result) yield row;
    }
  }

  /** Profiles of one (day, shard) bucket in profile-id order, after `afterProfileId` when given. */
  async *profilesOfBucket(day: string, shard: number, afterProfileId?: string): AsyncGenerator<string> {
    const after = afterProfileId === undefined ? '' : ' AND profile_id > ?';
    let result;
    try {
      result = await this.client.execute(
        `SELECT profile_id FROM ${this.table} WHERE day = ? AND shard = ?${after}`,
        afterProfileId === undefined ? [day, shard] : [day, shard, afterProfileId],
        { prepare: true, fetchSize: 5_000, consistency: consistency(this.config.cassandra.readConsistency) },
      );
    } catch (error) {
      throw asStorageError(error);
    }
    for await (const row of result) yield row.get('profile_id') as string;
  }
}

/** Notes the migrations' backfill writes at once: a scan of the metadata rows, not one write at a time. */
const BACKFILL_CONCURRENCY = 32;

/**
 * Migrations 9 and 10's backfill: every profile whose compressed history gives the daily sweep a reason to visit
 * it gets its row (settings compacted before the index noted them; ingest and compaction note the rest). One
 * pass over the metadata rows, a page at a time, each page's notes BACKFILL_CONCURRENCY at once; idempotent (a
 * set's union), so an interrupted migration, or an operator, runs it again.
 * `withReasons` false (migration 9, before the reasons column): auto-delete only, as it was.
 */
export async function indexDailySweepProfiles(client: Client, keyspace: string, withReasons = true): Promise<number> {
  // QUORUM, not ONE: a replica that missed a write must not leave its profile out (the rows it looks for
  // predate the index, long replicated; with two datacenters it needs both up, like any migration).
  const result = await client.execute(`SELECT profile_id, member_controls FROM ${keyspace}.compressed_history`, [], {
    fetchSize: 1_000,
    consistency: types.consistencies.quorum,
  });
  const note = ({ profileId, reasons }: { profileId: string; reasons: DailySweepReason[] }) =>
    client.execute(
      withReasons
        ? noteForDailySweep(keyspace)
        : `INSERT INTO ${keyspace}.profile_auto_delete (shard, profile_id) VALUES (?, ?)`,
      withReasons ? [reasons, shardOf(profileId), profileId] : [shardOf(profileId), profileId],
      { prepare: true, consistency: types.consistencies.quorum, isIdempotent: true },
    );
  let indexed = 0;
  let page: { profileId: string; reasons: DailySweepReason[] }[] = [];
  const flush = async () => {
    const failed = (await settleWithConcurrency(page, BACKFILL_CONCURRENCY, note)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason; // the migration fails, and is run again
    indexed += page.length;
    page = [];
  };
  for await (const row of result) {
    const text = row.get('member_controls') as string | null;
    let reasons: DailySweepReason[];
    try {
      reasons = dailySweepReasons(decodeMemberControls(text));
    } catch {
      continue; // corrupt: the profile's compaction fails and says so (CorruptHistoryError)
    }
    if (!withReasons) reasons = reasons.filter((r) => r === 'auto-delete');
    if (reasons.length === 0) continue;
    page.push({ profileId: row.get('profile_id') as string, reasons });
    if (page.length >= 1_000) await flush();
  }
  await flush();
  return indexed;
}

/** A dated write of the row: its write time is bound first in an UPDATE (a note), last in an INSERT. */
const datedWrite = (query: string, row: ActivityRow, writeTimeUs: types.Long) => ({
  query,
  params: row.day === null ? [writeTimeUs, ...paramsOf(row)] : [...paramsOf(row), writeTimeUs],
});

const paramsOf = (row: ActivityRow) =>
  row.day !== null
    ? [row.day, row.shard, row.profileId]
    : row.settingId === undefined
      ? [[row.reason], row.shard, row.profileId]
      : [
          [row.reason],
          row.reason === 'paused' ? [row.settingId] : [],
          row.reason === 'auto-delete' ? [row.settingId] : [],
          row.shard,
          row.profileId,
        ];

/** The days (CQL `date` literals) from the day of `from` to the day of `to`, both included, oldest first. */
export function daysBetween(from: number, to: number): string[] {
  const days: string[] = [];
  for (let day = Math.floor(from / DAY_MS); day <= Math.floor(to / DAY_MS); day++) days.push(dayOf(day * DAY_MS));
  return days;
}

/**
 * An event for a day the sweep may already have passed: the sweep has swept every event day before the
 * one holding `now - minAge` (its clock), so with a day's margin for the two service clocks, any day up
 * to and including that one. Collector-accepted events never are (EVENT_MAX_AGE_MS < COMPACTION_MIN_AGE_MS).
 */
export function isLateArrival(occurredAt: number, now: number, minAgeMs: number): boolean {
  return Math.floor(occurredAt / DAY_MS) <= Math.floor((now - minAgeMs) / DAY_MS);
}

/** The (day, profile) pair an event is indexed under: events with the same key share one row. */
export function activityKey(profileId: string, occurredAt: number): string {
  return `${dayOf(occurredAt)}|${profileId}`;
}

const dayLiterals = new Map<number, string>();

/** CQL `date` literal of the UTC day (memoised: ingest asks twice per event, for a handful of days). */
export function dayOf(instant: number): string {
  const day = Math.floor(instant / DAY_MS);
  let literal = dayLiterals.get(day);
  if (literal === undefined) {
    literal = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (dayLiterals.size >= 4_096) dayLiterals.clear();
    dayLiterals.set(day, literal);
  }
  return literal;
}

const shards = new Map<string, number>();

/**
 * The index shard of a profile: the walk's tests use the real one, so shard order is what production sees.
 * Memoised: an MD5 for each profile of each batch was 0.3 µs of ingest's CPU an event (session 15's profile).
 */
export function shardOf(profileId: string): number {
  let shard = shards.get(profileId);
  if (shard === undefined) {
    shard = createHash('md5').update(profileId).digest().readUInt16BE(0) % ACTIVITY_SHARDS;
    if (shards.size >= 100_000) shards.clear();
    shards.set(profileId, shard);
  }
  return shard;
}
