import { Inject, Injectable } from '@nestjs/common';
import { Client } from 'cassandra-driver';
import { createHash } from 'node:crypto';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { RecentlyRecorded } from './recently-recorded';
import { ProfileActivityBuckets } from '../ports/profile-activity.buckets';
import { ProfileActivityDays } from '../ports/profile-activity.days';

/** Buckets per day: bounds a day's partition at Netflix scale; the sweep reads all of them. */
export const ACTIVITY_SHARDS = 16;
const DAY_MS = 86_400_000;
/** The rows live 90 days (the table's TTL); remembering one for an hour means it surely still exists. */
const REMEMBER_MS = 3_600_000;
const REMEMBER_MAX = 200_000;

/**
 * Which profiles received events on which (event-time) day: how compaction finds work without scans.
 * Events for a day the sweep may already have passed are also noted under the day they arrived
 * (`profile_late_activity`), so the sweep catches up on backfills (issue 11 §6).
 */
@Injectable()
export class ProfileActivityIndex implements ProfileActivityDays, ProfileActivityBuckets {
  private readonly table: string;
  private readonly lateTable: string;
  /** Most batches of the event log touch the same (day, profile) pairs again: skip rewriting them. */
  private readonly recorded = new RecentlyRecorded(REMEMBER_MAX, REMEMBER_MS);

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.table = `${config.cassandra.keyspace}.profile_activity`;
    this.lateTable = `${config.cassandra.keyspace}.profile_late_activity`;
  }

  /** Blind, idempotent: one row per (day, profile), whatever the number of events. */
  async record(profileId: string, occurredAt: number, now = Date.now()): Promise<void> {
    const key = activityKey(profileId, occurredAt);
    if (!this.recorded.has(key)) {
      await this.insert(this.table, dayOf(occurredAt), profileId);
      this.recorded.add(key);
    }
    if (!isLateArrival(occurredAt, now, this.config.compaction.minAgeMs)) return;
    const lateKey = `late|${activityKey(profileId, now)}`;
    if (this.recorded.has(lateKey)) return;
    await this.insert(this.lateTable, dayOf(now), profileId);
    this.recorded.add(lateKey);
  }

  /** Profiles with events on the day containing `instant`, shard by shard. */
  profilesActiveOn(instant: number): AsyncGenerator<string> {
    return this.scan(`SELECT profile_id FROM ${this.table} WHERE day = ? AND shard = ?`, instant);
  }

  /** Profiles that received, on the day containing `instant`, events of a day the sweep may have passed. */
  profilesArrivedLateOn(instant: number): AsyncGenerator<string> {
    return this.scan(`SELECT profile_id FROM ${this.lateTable} WHERE arrival_day = ? AND shard = ?`, instant);
  }

  private async insert(table: string, day: string, profileId: string): Promise<void> {
    const columns = table === this.table ? 'day, shard, profile_id' : 'arrival_day, shard, profile_id';
    await this.client.execute(
      `INSERT INTO ${table} (${columns}) VALUES (?, ?, ?)`,
      [day, shardOf(profileId), profileId],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency), isIdempotent: true },
    );
  }

  private async *scan(query: string, instant: number): AsyncGenerator<string> {
    for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
      let result;
      try {
        result = await this.client.execute(query, [dayOf(instant), shard], {
          prepare: true,
          fetchSize: 5_000,
          consistency: consistency(this.config.cassandra.readConsistency),
          isIdempotent: true,
        });
      } catch (error) {
        throw asStorageError(error);
      }
      for await (const row of result) yield row.get('profile_id') as string;
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

/** The index shard of a profile: the walk's tests use the real one, so shard order is what production sees. */
export function shardOf(profileId: string): number {
  return createHash('md5').update(profileId).digest().readUInt16BE(0) % ACTIVITY_SHARDS;
}
