import { Inject, Injectable } from '@nestjs/common';
import { Client } from 'cassandra-driver';
import { createHash } from 'node:crypto';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { RecentlyRecorded } from './recently-recorded';

/** Buckets per day: bounds a day's partition at Netflix scale; the sweep reads all of them. */
export const ACTIVITY_SHARDS = 16;
const DAY_MS = 86_400_000;
/** The rows live 90 days (the table's TTL); remembering one for an hour means it surely still exists. */
const REMEMBER_MS = 3_600_000;
const REMEMBER_MAX = 200_000;

/** Which profiles received events on which (event-time) day: how compaction finds work without scans. */
@Injectable()
export class ProfileActivityIndex {
  private readonly table: string;
  /** Most batches of the event log touch the same (day, profile) pairs again: skip rewriting them. */
  private readonly recorded = new RecentlyRecorded(REMEMBER_MAX, REMEMBER_MS);

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.table = `${config.cassandra.keyspace}.profile_activity`;
  }

  /** Blind, idempotent: one row per (day, profile), whatever the number of events. */
  async record(profileId: string, occurredAt: number): Promise<void> {
    const key = activityKey(profileId, occurredAt);
    if (this.recorded.has(key)) return;
    await this.client.execute(
      `INSERT INTO ${this.table} (day, shard, profile_id) VALUES (?, ?, ?)`,
      [dayOf(occurredAt), shardOf(profileId), profileId],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency), isIdempotent: true },
    );
    this.recorded.add(key);
  }

  /** Profiles with events on the day containing `instant`, shard by shard. */
  async *profilesActiveOn(instant: number): AsyncGenerator<string> {
    for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
      let result;
      try {
        result = await this.client.execute(
          `SELECT profile_id FROM ${this.table} WHERE day = ? AND shard = ?`,
          [dayOf(instant), shard],
          {
            prepare: true,
            fetchSize: 5_000,
            consistency: consistency(this.config.cassandra.readConsistency),
            isIdempotent: true,
          },
        );
      } catch (error) {
        throw asStorageError(error);
      }
      for await (const row of result) yield row.get('profile_id') as string;
    }
  }
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

function shardOf(profileId: string): number {
  return createHash('md5').update(profileId).digest().readUInt16BE(0) % ACTIVITY_SHARDS;
}
