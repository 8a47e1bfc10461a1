import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { AUTO_DELETE_PERIODS, RECORDING_STATES, ViewingEvent } from '@vh/domain';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import {
  asStorageError,
  describeCassandraError,
  needsSchemaCheck,
  schemaProblemOf,
  writeFailure,
} from '../cassandra-errors';
import { pendingMigrations } from '../schema/schema-migrator';
import { settleWithConcurrency } from '../concurrency';
import { activityKey, ProfileActivityIndex } from './profile-activity.index';
import { LiveHistoryCompactionStore, LiveProfileRead, LiveRowWrite } from '../ports/live-history.compaction-store';
import { AppendOptions, FailedWrite, LiveHistoryWriter } from '../ports/live-history.writer';
import { writeTimeAfter } from './write-time-after';
import { uuidValue } from '../uuid-value';

/** Rows of one partition sent as one unlogged batch: a single mutation, well under the batch size limit. */
const MAX_ROWS_PER_BATCH = 20;
const READ_FETCH_SIZE = 5_000;
const EVENT_COLUMNS =
  'occurred_at, event_id, type, record_id, title_id, device_id, position_ms, title_duration_ms, accepted_at, acceptances, ' +
  'recording, auto_delete';
const MIN_TOKEN = -(2n ** 63n);
const MAX_TOKEN = 2n ** 63n - 1n;

interface RawFailure {
  events: ViewingEvent[];
  error: unknown;
}

/** The live view: recent events of each profile, one row per event, folded when read. */
@Injectable()
export class LiveHistoryRepository implements LiveHistoryWriter, LiveHistoryCompactionStore {
  private readonly table: string;
  /** The one statement that writes a live row (public so benchmarks can measure the raw driver on it). */
  readonly insert: string;
  /** `insert` at a given write time (microseconds, the first bound value): tests play other hosts' clocks. */
  readonly insertAtWriteTime: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
    private readonly activity: ProfileActivityIndex,
  ) {
    this.table = `${config.cassandra.keyspace}.live_history`;
    // Write time is ours (the driver's clock), not event time: a late row must outlive the range delete
    // of a compaction that did not read it (invariant 2; see `deleteBefore`). A second write of one key
    // (same occurredAt and eventId) replaces its content but adds its acceptance to the set: the earliest
    // acceptance of a repeated event counts whatever the write order (invariant 1, docs/adr/0007). An
    // UPDATE, since an INSERT of a set replaces it.
    const assignments =
      `SET type = ?, record_id = ?, title_id = ?, device_id = ?, position_ms = ?, title_duration_ms = ?, ` +
      `recording = ?, auto_delete = ?, acceptances = acceptances + ? ` +
      `WHERE profile_id = ? AND occurred_at = ? AND event_id = ?`;
    this.insert = `UPDATE ${this.table} ${assignments}`;
    this.insertAtWriteTime = `UPDATE ${this.table} USING TIMESTAMP ? ${assignments}`;
  }

  /**
   * Writes events blind and idempotently, grouped by profile, and notes each (day, profile) in the
   * activity index. Returns the groups that failed, each with a typed error, so the caller retries the
   * unavailable ones and dead-letters only rows Cassandra rejected; never throws.
   */
  async append(events: readonly ViewingEvent[], options: AppendOptions = {}): Promise<FailedWrite[]> {
    const rowsPerBatch = options.rowsPerBatch ?? MAX_ROWS_PER_BATCH;
    const groups: ViewingEvent[][] = [];
    const byProfile = new Map<string, ViewingEvent[]>();
    for (const event of events) {
      let group = byProfile.get(event.profileId);
      if (group === undefined || group.length >= rowsPerBatch) {
        group = [];
        byProfile.set(event.profileId, group);
        groups.push(group);
      }
      group.push(event);
    }
    const writeConsistency = consistency(this.config.cassandra.writeConsistency);
    const concurrency = options.concurrency ?? this.config.ingest.writeConcurrency;
    // Idempotent (a fixed key, one event per key, same values each time): the driver may send it again.
    const writeOptions = { prepare: true, consistency: writeConsistency, isIdempotent: true };
    const statement = (event: ViewingEvent) => {
      const writeTime = writeTimeAfter(options.writtenAfterUs, event.profileId);
      return writeTime === null
        ? { query: this.insert, params: this.params(event) }
        : { query: this.insertAtWriteTime, params: [writeTime, ...this.params(event)] };
    };
    const results = await settleWithConcurrency(groups, concurrency, (group) => {
      if (group.length > 1) return this.client.batch(group.map(statement), { ...writeOptions, logged: false });
      const { query, params } = statement(group[0]);
      return this.client.execute(query, params, writeOptions);
    });
    const failed: RawFailure[] = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected') failed.push({ events: groups[i], error: result.reason });
    });
    const written = groups.filter((_, i) => results[i].status === 'fulfilled');
    failed.push(...(await this.noteActivity(written.flat(), concurrency, options.writtenAfterUs)));
    return this.classify(failed);
  }

  /**
   * Invariant 2: only a row Cassandra refuses is RowRejectedError. Right after a migration a coordinator
   * may not know a new column yet and answer Invalid, so a row-level refusal counts against the row only
   * once the schema is checked complete and agreed on by every node; a check that fails retries them all.
   */
  private async classify(failures: RawFailure[]): Promise<FailedWrite[]> {
    let schemaProblem: string | null = null;
    if (failures.some((f) => needsSchemaCheck(f.error))) {
      try {
        const keyspace = this.config.cassandra.keyspace;
        const pending = await pendingMigrations(this.client, keyspace);
        // Not in the driver's typings (4.x), but public: compares the nodes' schema_version.
        const metadata = this.client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
        schemaProblem = schemaProblemOf(keyspace, pending, await metadata.checkSchemaAgreement());
      } catch (error) {
        schemaProblem = `the schema could not be checked: ${describeCassandraError(error)}`;
      }
    }
    return failures.map(({ events, error }) => ({ events, error: writeFailure(error, schemaProblem) }));
  }

  /**
   * A failed index write fails its events too: they are retried, so no profile is missed by compaction. Dated
   * past an erasure's tombstone as the live rows are: it dated the delete of the profile's index rows too (ADR 9).
   */
  private async noteActivity(
    events: ViewingEvent[],
    concurrency: number,
    writtenAfterUs: ReadonlyMap<string, number> | undefined,
  ): Promise<RawFailure[]> {
    const failed = await this.activity.recordMany(events, concurrency, undefined, writtenAfterUs);
    if (failed.size === 0) return [];
    const byKey = new Map<string, RawFailure>();
    for (const event of events) {
      const key = activityKey(event.profileId, event.occurredAt);
      if (!failed.has(key)) continue;
      const failure = byKey.get(key);
      if (failure) failure.events.push(event);
      else byKey.set(key, { events: [event], error: failed.get(key) });
    }
    return [...byKey.values()];
  }

  /**
   * Removes the rolled-up prefix of a profile's live rows with one range tombstone dated `tombstoneUs`
   * (microseconds); null (nothing was read) deletes nothing. The compactor dates it by the write times of the
   * rows it read, never by its own clock (invariant 6; planLiveRowDeletes says how), so that a row written
   * after the read outlives it. Each row of `byKey` is deleted on its own, by its full key at its own write
   * time: a delete wins a timestamp tie, so it removes exactly the copy read; a rewrite with a later
   * timestamp, or a row not read, is never touched (invariant 2). Each is a tombstone every read of the
   * partition meets for gc_grace_seconds: the compactor passes few (MAX_ROW_DELETES).
   */
  async deleteBefore(
    profileId: string,
    instant: number,
    tombstoneUs: number | null,
    byKey: readonly LiveRowWrite[] = [],
  ): Promise<void> {
    if (tombstoneUs === null) return;
    const options = {
      prepare: true,
      consistency: consistency(this.config.cassandra.writeConsistency),
      isIdempotent: true,
    };
    const batches: LiveRowWrite[][] = [];
    for (let i = 0; i < byKey.length; i += MAX_ROWS_PER_BATCH) batches.push(byKey.slice(i, i + MAX_ROWS_PER_BATCH));
    const deleteRow = `DELETE FROM ${this.table} USING TIMESTAMP ? WHERE profile_id = ? AND occurred_at = ? AND event_id = ?`;
    try {
      await this.client.execute(
        `DELETE FROM ${this.table} USING TIMESTAMP ? WHERE profile_id = ? AND occurred_at < ?`,
        [types.Long.fromNumber(tombstoneUs), profileId, new Date(instant)],
        options,
      );
      // One partition per batch: a single mutation, each statement with its own timestamp.
      const results = await settleWithConcurrency(batches, this.config.ingest.writeConcurrency, (batch) =>
        this.client.batch(
          batch.map((row) => ({
            query: deleteRow,
            params: [types.Long.fromNumber(row.writeTimeUs), profileId, new Date(row.occurredAt), row.eventId],
          })),
          { ...options, logged: false },
        ),
      );
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) throw failure.reason;
    } catch (error) {
      throw asStorageError(error);
    }
  }

  /**
   * Every live event of one profile, in clustering (event-time) order. With `withWriteTime` (the
   * compactor's read), also each row's WRITETIME and the newest of them, which date its deletes.
   */
  readProfile(profileId: string): Promise<ViewingEvent[]>;
  readProfile(profileId: string, options: { withWriteTime: true }): Promise<LiveProfileRead>;
  async readProfile(
    profileId: string,
    options: { withWriteTime?: boolean } = {},
  ): Promise<ViewingEvent[] | LiveProfileRead> {
    const columns = options.withWriteTime ? `${EVENT_COLUMNS}, WRITETIME(type) AS written_at` : EVENT_COLUMNS;
    try {
      const result = await this.client.execute(
        `SELECT ${columns} FROM ${this.table} WHERE profile_id = ?`,
        [profileId],
        {
          prepare: true,
          fetchSize: READ_FETCH_SIZE,
          consistency: consistency(this.config.cassandra.readConsistency),
          isIdempotent: true,
        },
      );
      const events: ViewingEvent[] = [];
      const rowsRead: LiveRowWrite[] = [];
      let newestWriteTimeUs: number | null = null;
      for await (const row of result) {
        // Every row is read, even one of an unknown type: the deletes cover it too. A null WRITETIME
        // (no type written) dates nothing: such a row is left to the range tombstone.
        const writtenAt = options.withWriteTime ? (row.get('written_at') as types.Long | null) : null;
        if (writtenAt !== null) {
          const writeTimeUs = writtenAt.toNumber();
          const key = { occurredAt: (row.get('occurred_at') as Date).getTime(), eventId: String(row.get('event_id')) };
          rowsRead.push({ ...key, writeTimeUs });
          if (newestWriteTimeUs === null || writeTimeUs > newestWriteTimeUs) newestWriteTimeUs = writeTimeUs;
        }
        const event = toEvent(profileId, row);
        if (event) events.push(event);
      }
      return options.withWriteTime ? { events, rowsRead, newestWriteTimeUs } : events;
    } catch (error) {
      throw asStorageError(error);
    }
  }

  /**
   * The bound values of `insert` for one event. A column its type never uses is left unset, not null: a null is
   * a cell tombstone that every read of the partition meets until compaction (two to six a row, counted
   * towards the 100,000 that fail a read). A type's own optional column is written null, so that a second
   * copy of one key replaces the first whole.
   */
  params(event: ViewingEvent): unknown[] {
    // Written out per type, no spread of shared parts: this runs for every row ingest writes.
    const profileId = event.profileId;
    const eventId = uuidValue(event.eventId);
    const occurredAt = new Date(event.occurredAt);
    const accepted = event.acceptedAt === undefined ? [] : [new Date(event.acceptedAt)];
    const U = types.unset;
    switch (event.type) {
      case 'record-removed':
        return [event.type, uuidValue(event.recordId), U, U, U, U, U, U, accepted, profileId, occurredAt, eventId];
      case 'history-cleared':
        return [event.type, U, U, U, U, U, U, U, accepted, profileId, occurredAt, eventId];
      case 'title-removed':
        return [event.type, U, event.titleId, U, U, U, U, U, accepted, profileId, occurredAt, eventId];
      case 'settings-changed':
        return [
          event.type,
          U,
          U,
          U,
          U,
          U,
          event.recording ?? null,
          event.autoDelete ?? null,
          accepted,
          profileId,
          occurredAt,
          eventId,
        ];
      default:
        return [
          event.type,
          uuidValue(event.playbackSessionId),
          event.titleId,
          event.deviceId,
          event.positionMs,
          event.titleDurationMs ?? null,
          U,
          U,
          accepted,
          profileId,
          occurredAt,
          eventId,
        ];
    }
  }
}

/** (start, end] ranges covering the Murmur3 ring once. */
export function splitTokenRing(count: number): [bigint, bigint][] {
  const span = (MAX_TOKEN - MIN_TOKEN) / BigInt(count);
  const ranges: [bigint, bigint][] = [];
  for (let i = 0; i < count; i++) {
    const start = MIN_TOKEN + span * BigInt(i);
    ranges.push([start, i === count - 1 ? MAX_TOKEN : start + span]);
  }
  return ranges;
}

/**
 * Built as plain literals, optional keys assigned after: object spread (`...base`, `...(x ? {} : {...})`) cost
 * 11-12 µs a row against 0.35 measured in isolation (session 12), about 6% of the read API's CPU in a profile
 * of the mixed load, where every read converts the profile's live rows.
 */
function toEvent(profileId: string, row: types.Row): ViewingEvent | null {
  const eventId = String(row.get('event_id'));
  const occurredAt = (row.get('occurred_at') as Date).getTime();
  const type = row.get('type') as string;
  let event: ViewingEvent;
  switch (type) {
    case 'play':
    case 'pause':
    case 'stop': {
      event = {
        eventId,
        profileId,
        occurredAt,
        type,
        playbackSessionId: String(row.get('record_id')),
        titleId: row.get('title_id') as string,
        deviceId: row.get('device_id') as string,
        positionMs: row.get('position_ms') as number,
      };
      const duration = row.get('title_duration_ms') as number | null;
      if (duration !== null) event.titleDurationMs = duration;
      break;
    }
    case 'record-removed':
      event = { eventId, profileId, occurredAt, type, recordId: String(row.get('record_id')) };
      break;
    case 'history-cleared':
      event = { eventId, profileId, occurredAt, type };
      break;
    case 'title-removed':
      event = { eventId, profileId, occurredAt, type, titleId: row.get('title_id') as string };
      break;
    case 'settings-changed': {
      event = { eventId, profileId, occurredAt, type };
      const recording = row.get('recording') as string | null;
      const autoDelete = row.get('auto_delete') as string | null;
      if (isOneOf(RECORDING_STATES, recording)) event.recording = recording;
      if (isOneOf(AUTO_DELETE_PERIODS, autoDelete)) event.autoDelete = autoDelete;
      break;
    }
    default:
      return null;
  }
  // Rows written before acceptance times were stored have none (acceptanceOf falls back).
  const accepted = earliestAcceptance(row);
  if (accepted !== null) event.acceptedAt = accepted;
  return event;
}

/**
 * The earliest acceptance of any delivery: the set (every delivery since migration 5) and the single column rows
 * written before it carry.
 */
function earliestAcceptance(row: types.Row): number | null {
  const single = row.get('accepted_at') as Date | null;
  let earliest = single === null ? null : single.getTime();
  for (const delivery of (row.get('acceptances') as Date[] | null) ?? []) {
    const time = delivery.getTime();
    if (earliest === null || time < earliest) earliest = time;
  }
  return earliest;
}

function isOneOf<T extends string>(values: readonly T[], value: string | null): value is T {
  return value !== null && (values as readonly string[]).includes(value);
}
