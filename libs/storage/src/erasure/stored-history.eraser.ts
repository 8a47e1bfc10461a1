import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { settleWithConcurrency } from '../concurrency';
import { CompressedHistoryRepository } from '../compressed/compressed-history.repository';
import { emptyVersion } from '../compressed/compressed-history.version';
import { daysBetween, dayOf, ProfileActivityIndex, shardOf } from '../live/profile-activity.index';

const DAY_MS = 24 * 3600_000;
/** The activity indexes keep rows 90 days: every arrival day an index row of the profile can still be on. */
const INDEX_DAYS = 91;
const HOUR_US = 3_600_000_000;
/** Recorded tombstones live a day (migration 13): none can be further ahead of our clock and still be read. */
const TOMBSTONE_RECORD_HOURS = 24;

/**
 * How far past a recorded tombstone a writer that did not make it dates its rows (a partition's new owner,
 * `cli repair`): a second, past what the erasing process dated off it (one microsecond a batch).
 */
export const PAST_RECORDED_TOMBSTONE_US = 1_000_000;

/** The hours of recorded tombstone dates that can still be ahead of `nowUs` (migration 13). */
function hoursFrom(nowUs: number): types.Long[] {
  const first = Math.floor(nowUs / HOUR_US);
  return Array.from({ length: TOMBSTONE_RECORD_HOURS + 1 }, (_, i) => types.Long.fromNumber(first + i));
}

export interface StoredHistoryErasure {
  profileId: string;
  liveRows: number;
  /**
   * The newest tombstone of the profile's rows (microseconds), the date its rows written afterwards must be past:
   * this erasure's (its live tombstone, dated at the newest write time it read, and with `indexRows` the date of its
   * index deletes, no earlier than its clock), or an earlier one's still recorded (perhaps a dead host's, its clock
   * ahead); null when none.
   */
  erasureTombstoneUs: number | null;
  /** The compressed version the erasure switched to (empty), or null when there was none to replace. */
  compressedVersion: number | null;
  chunkSetsDeleted: number;
}

/**
 * Removes everything stored of one profile's viewing history in the history keyspace: live rows, the
 * compressed history (replaced by an empty version, so a compaction that read the old one loses its switch),
 * every chunk set at once (no grace: a reader holding old metadata retries and finds the empty version), and
 * the activity-index rows. Idempotent, and safe to run again: an erasure's mark makes ingest run it in the
 * log's order after the API ran it at once (docs/adr/0009).
 */
@Injectable()
export class StoredHistoryEraser {
  private readonly ks: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
    private readonly compressed: CompressedHistoryRepository,
    @Optional() private readonly activity?: ProfileActivityIndex,
  ) {
    this.ks = config.cassandra.keyspace;
  }

  /**
   * `indexRows: false` (the API's erasure): the activity-index rows are left to ingest's erasure at the mark.
   * They hold only key columns, so no write time can date their delete: a clock would, and the processes that
   * write them again afterwards must know its date (invariant 6). Ingest deletes them in the log's order, dated
   * when they run and recorded before their hold (`eraseIndexRows`), and the ingest hosts date the rows after it
   * past it.
   * `hold` runs after each read and before the delete or switch it decides (the API's erasure renews its lease
   * there, docs/adr/0009): a process that stalled past its lease stops before removing what it read after
   * another erasure took it over (the profile's new history); a delete after the hold removes only what was read.
   */
  async erase(
    profileId: string,
    options: { indexRows?: boolean; now?: number; hold?: () => Promise<void> } = {},
  ): Promise<StoredHistoryErasure> {
    const { indexRows = true, now = Date.now(), hold = async () => undefined } = options;
    const began = performance.now();
    try {
      const days = new Set<string>();
      // The index deletes' date is no earlier than our clock: the rows this process wrote before the mark are
      // dated by it, within its millisecond (the driver's write times are microseconds).
      const { rows: liveRows, tombstoneUs: recordedUs } = await this.eraseLive(
        profileId,
        days,
        hold,
        indexRows ? now * 1000 + 999 : null,
      );
      const { version, chunkSetsDeleted } = await this.eraseCompressed(profileId, days, hold);
      // Else this process skips re-writing the deleted rows for the profile's new history, and compaction
      // and the export never find it.
      let tombstoneUs = recordedUs;
      if (indexRows) {
        // Dated when they run, not when the erasure began: a compaction's daily-sweep note written meanwhile (its
        // version switched before ours) goes too, as it did at the driver's clock (review, session 12), but for one
        // written during this record and the hold (harmless: visited until a compaction marks it erased, ADR 9).
        // Our clock then is the start plus the time passed, measured, not read again (`now` stands for it).
        const endOfMillisecondUs = Math.floor(now + (performance.now() - began)) * 1000 + 999;
        if (endOfMillisecondUs > tombstoneUs!) {
          tombstoneUs = endOfMillisecondUs;
          await this.recordTombstone(profileId, types.Long.fromNumber(tombstoneUs));
        }
        await hold(); // also when nothing else was deleted: index rows may be the new owner's
        for (const day of daysBetween(now - INDEX_DAYS * DAY_MS, now)) days.add(day);
        await this.eraseIndexRows(profileId, [...days], tombstoneUs!);
        this.activity?.erased(profileId, await this.noteIndexErasure(profileId));
      } else this.activity?.forgetProfile(profileId);
      return { profileId, liveRows, erasureTombstoneUs: tombstoneUs, compressedVersion: version, chunkSetsDeleted };
    } catch (error) {
      throw asStorageError(error);
    }
  }

  /**
   * One partition tombstone dated at the newest write time read: every row read goes, and a row written
   * later (an event after the erasure, sealed with the profile's new key) survives (as compaction's range delete).
   * Its date is recorded first (migration 13), so a process that reads no row (a dead host's tombstone hid
   * them) still learns what its writes must be dated after. With `indexDeletesNotBeforeUs` (the index rows go
   * too, `eraseIndexRows`), the date recorded and answered is the newest of the write time read, the record and
   * that clock reading: the index deletes' date unless the clock moves past it before they run (`erase`).
   */
  private async eraseLive(
    profileId: string,
    days: Set<string>,
    hold: () => Promise<void>,
    indexDeletesNotBeforeUs: number | null,
  ): Promise<{ rows: number; tombstoneUs: number | null }> {
    let newest: types.Long | null = null;
    let rows = 0;
    let pageState: string | undefined;
    do {
      const result = await this.client.execute(
        `SELECT occurred_at, WRITETIME(type) AS written FROM ${this.ks}.live_history WHERE profile_id = ?`,
        [profileId],
        { ...this.readOptions(), fetchSize: 5_000, pageState },
      );
      for (const row of result.rows) {
        rows++;
        days.add(dayOf((row.get('occurred_at') as Date).getTime()));
        const written = row.get('written') as types.Long | null;
        if (written && (newest === null || written.greaterThan(newest))) newest = written;
      }
      pageState = result.pageState ?? undefined;
    } while (pageState);
    const earlier = (await this.recordedTombstones(Date.now() * 1000, profileId)).get(profileId) ?? null;
    const tombstones = [newest?.toNumber() ?? null, earlier, indexDeletesNotBeforeUs].filter(
      (t): t is number => t !== null,
    );
    const tombstoneUs = tombstones.length === 0 ? null : Math.max(...tombstones);
    // The index deletes' date is recorded even when no live row was read: no read shows it either.
    const recorded = indexDeletesNotBeforeUs === null ? newest : types.Long.fromNumber(tombstoneUs!);
    // Before the hold, which is kept next to the delete it guards.
    if (recorded !== null) await this.recordTombstone(profileId, recorded);
    if (newest !== null) {
      await hold();
      await this.client.execute(
        `DELETE FROM ${this.ks}.live_history USING TIMESTAMP ? WHERE profile_id = ?`,
        [newest, profileId],
        { ...this.writeOptions(), isIdempotent: true },
      );
    }
    return { rows, tombstoneUs };
  }

  /**
   * Records a tombstone's date (migration 13). Recorded late (a stalled process), a date that was really read (or
   * our clock's) only raises the floor, and the newest date wins whatever the order of writes (it is the cell's
   * write time too).
   */
  private async recordTombstone(profileId: string, dateUs: types.Long): Promise<void> {
    await this.client.execute(
      `UPDATE ${this.ks}.live_erasure_tombstones USING TIMESTAMP ? SET tombstone_us = ? WHERE hour = ? AND profile_id = ?`,
      [dateUs, dateUs, types.Long.fromNumber(Math.floor(dateUs.toNumber() / HOUR_US)), profileId],
      { ...this.writeOptions(), isIdempotent: true },
    );
  }

  /**
   * The profile's newest recorded tombstone (of its live rows or its index rows) if it is ahead of our clock (a
   * repair dates its rows past it).
   */
  async erasureTombstoneAheadOf(profileId: string, nowUs = Date.now() * 1000): Promise<number | null> {
    return (await this.erasureTombstonesAhead(nowUs, profileId)).get(profileId) ?? null;
  }

  private async eraseCompressed(
    profileId: string,
    days: Set<string>,
    hold: () => Promise<void>,
  ): Promise<{ version: number | null; chunkSetsDeleted: number }> {
    let version: number | null = null;
    for (;;) {
      const current = await this.compressed.readVersion(profileId, { serial: true });
      if (current && current.recordCount === 0 && current.removedCount === 0 && current.chunkCount === 0) {
        version = current.version;
        break;
      }
      if (current?.firstStartedAt != null && current.lastEventAt != null) {
        for (const day of daysBetween(current.firstStartedAt, current.lastEventAt)) days.add(day);
      }
      const next = (current?.version ?? 0) + 1;
      await hold();
      const written = await this.compressed.writeChunkSet(profileId, [], next);
      // Settings and titles removed are the profile's too: an erased profile starts from the defaults.
      const switched = await this.compressed.switchVersion(
        current?.version ?? null,
        emptyVersion(profileId, next, written.chunkSet),
      );
      if (switched) {
        version = next;
        break;
      }
      // A compaction switched first: erase what it wrote too.
      await this.compressed.deleteChunkSet(profileId, written.chunkSet, 0);
    }
    const current = await this.compressed.readVersion(profileId, { serial: true });
    const sets = await this.client.execute(
      `SELECT chunk_set, chunk_count FROM ${this.ks}.compressed_history_chunk_sets WHERE profile_id = ?`,
      [profileId],
      this.readOptions(),
    );
    let chunkSetsDeleted = 0;
    if (sets.rows.some((row) => String(row.get('chunk_set')) !== current?.chunkSet)) await hold();
    for (const row of sets.rows) {
      const chunkSet = String(row.get('chunk_set'));
      if (chunkSet === current?.chunkSet) continue;
      await this.compressed.deleteChunkSet(profileId, chunkSet, row.get('chunk_count') ?? 0);
      chunkSetsDeleted++;
    }
    return { version, chunkSetsDeleted };
  }

  /**
   * The recorded tombstones (migration 13; of live rows and index rows) still ahead of `nowUs`, by profile: a
   * process that takes a partition over dates the rows of those profiles after them, as the process that erased
   * did. Read at each assignment: the hours from now on only, which hold the erasures of the last hour at most
   * (tombstones are dated at write times or the erasing host's clock, within the skew of real time).
   */
  async erasureTombstonesAhead(nowUs = Date.now() * 1000, profileId?: string): Promise<Map<string, number>> {
    try {
      const recorded = await this.recordedTombstones(nowUs, profileId);
      for (const [id, tombstoneUs] of recorded) if (tombstoneUs < nowUs) recorded.delete(id);
      return recorded;
    } catch (error) {
      throw asStorageError(error);
    }
  }

  /** The newest tombstone on record by profile, in the hours from now on (of one profile, or of all). */
  private async recordedTombstones(nowUs: number, profileId?: string): Promise<Map<string, number>> {
    const newest = new Map<string, number>();
    let pageState: string | undefined;
    do {
      const result = await this.client.execute(
        `SELECT profile_id, tombstone_us FROM ${this.ks}.live_erasure_tombstones WHERE hour IN ?` +
          (profileId === undefined ? '' : ' AND profile_id = ?'),
        profileId === undefined ? [hoursFrom(nowUs)] : [hoursFrom(nowUs), profileId],
        { ...this.readOptions(), fetchSize: 5_000, pageState, isIdempotent: true },
      );
      for (const row of result.rows) {
        const tombstoneUs = (row.get('tombstone_us') as types.Long | null)?.toNumber() ?? null;
        const id = String(row.get('profile_id'));
        if (tombstoneUs !== null && tombstoneUs > (newest.get(id) ?? 0)) newest.set(id, tombstoneUs);
      }
      pageState = result.pageState ?? undefined;
    } while (pageState);
    return newest;
  }

  forgetRemembered(): void {
    this.activity?.forgetAll();
  }

  /**
   * Dated `dateUs`, recorded first (`eraseLive`), never by the driver's clock: the rows hold only key columns, so
   * no write time of theirs can be read, and a delete dated by a clock ahead (this host's, dead since) would shadow
   * the rows the next writer writes for the profile's new history at its own clock, hiding the profile from the
   * daily sweep and the export's walk (invariant 4). Every writer after this erasure dates them past the record
   * (WriteDatesAfterErasures, `cli repair`), as the live rows. The error left goes the harmless way: an index row
   * of the erased history dated past `dateUs` (a host ahead wrote it after the newest live row read) outlives the
   * delete, and the sweep or the walk visits a profile with nothing of that day left (a noted setting is visited
   * until a compaction finds it erased).
   */
  private async eraseIndexRows(profileId: string, days: string[], dateUs: number): Promise<void> {
    const shard = shardOf(profileId);
    const date = types.Long.fromNumber(dateUs);
    const statements = days.flatMap((day) => [
      {
        query: `DELETE FROM ${this.ks}.profile_activity USING TIMESTAMP ? WHERE day = ? AND shard = ? AND profile_id = ?`,
        day,
      },
      {
        query: `DELETE FROM ${this.ks}.profile_late_activity USING TIMESTAMP ? WHERE arrival_day = ? AND shard = ? AND profile_id = ?`,
        day,
      },
    ]);
    const results = await settleWithConcurrency(
      [
        ...statements,
        {
          query: `DELETE FROM ${this.ks}.profile_auto_delete USING TIMESTAMP ? WHERE shard = ? AND profile_id = ?`,
          day: null,
        },
      ],
      32,
      ({ query, day }) =>
        this.client.execute(
          query,
          day === null ? [date, shard, profileId] : [date, types.LocalDate.fromString(day), shard, profileId],
          { ...this.writeOptions(), isIdempotent: true },
        ),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * After the delete: a new marker for the profile (`profile_index_erasures`, a short TTL). A process that
   * remembers writing the profile's rows reads it before trusting that memory: this delete may land after it
   * wrote them for the new history (a partition's previous owner, stalled in the batch with the mark; ADR 9).
   */
  private async noteIndexErasure(profileId: string): Promise<string> {
    const marker = randomUUID();
    await this.client.execute(
      `INSERT INTO ${this.ks}.profile_index_erasures (shard, profile_id, marker) VALUES (?, ?, ?)`,
      [shardOf(profileId), profileId, marker],
      this.writeOptions(),
    );
    return marker;
  }

  private readOptions() {
    return { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) };
  }

  private writeOptions() {
    return { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) };
  }
}
