import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { DependencyUnavailableError } from '@vh/domain';
import { CASSANDRA_CLIENT, consistency } from './cassandra-client';
import { asStorageError } from './cassandra-errors';
import { ACTIVITY_SHARDS, daysBetween } from './live/profile-activity.index';
import { ProfileActivityBuckets } from './ports/profile-activity.buckets';
import { splitTokenRing } from './live/live-history.repository';

/** Reads of one token range before the walk gives up (an outage); the delay grows by this much each time. */
const RANGE_READ_ATTEMPTS = 3;
const RANGE_RETRY_DELAY_MS = 1_000;

/** Where a walk stands: the last profile it gave. Walking again after it gives the rest, each profile once. */
export type ChangedProfilesPosition =
  | { walk: 'activity-index'; day: string; shard: number; profileId: string }
  | { walk: 'token-ranges'; token: string; profileId: string };

export interface ChangedProfile {
  profileId: string;
  position: ChangedProfilesPosition;
}

/**
 * The profiles that may hold a record changed since an instant, whether their history is live, compressed
 * or both, each given once, in a stable order, resumable after any position.
 */
@Injectable()
export class ChangedProfilesWalk {
  private readonly ks: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
    private readonly activity: ProfileActivityBuckets,
  ) {
    this.ks = config.cassandra.keyspace;
  }

  /**
   * For a recent `since`: the activity index, day by day from the day of `since` to the day of `until`.
   * A record changed since `since` had an event on one of these days, and compaction never removes index
   * rows (they expire after 90 days), so compressed-only profiles are found too. Cost: one bucket read per
   * (day, shard) and one point read per (profile, day); memory: one page.
   * A profile active on several days is given on the last of them only: stateless, so a resumed walk
   * gives no profile twice either. The last, not the first: index rows are only ever added, so a profile
   * passed over for a later day is still there when the walk reaches it, whatever arrives meanwhile (a
   * late event on an earlier day would hide a profile passed over for its first day). A profile given and
   * then active on a later day is not given again by the same walk; a walk resumed in another request does
   * not know what the first one gave, so there it may be (its records then come twice).
   */
  async *byActivity(since: number, until: number, after?: ChangedProfilesPosition): AsyncGenerator<ChangedProfile> {
    const days = daysBetween(since, until);
    const from = after?.walk === 'activity-index' ? after : undefined;
    // A profile given for an earlier day that gets an event on a later one meanwhile (today's events) would
    // be given again there: remember what this walk gave. Cost: one id per profile given before the last day.
    const given = new Set<string>();
    for (const [d, day] of days.entries()) {
      if (from && day < from.day) continue;
      for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
        if (from && day === from.day && shard < from.shard) continue;
        const resumeAfter = from && day === from.day && shard === from.shard ? from.profileId : undefined;
        for await (const profileId of this.activity.profilesOfBucket(day, shard, resumeAfter)) {
          if (given.has(profileId)) continue;
          if (await this.activity.activeOnAnyOf(profileId, days.slice(d + 1))) continue;
          if (d < days.length - 1) given.add(profileId);
          yield { profileId, position: { walk: 'activity-index', day, shard, profileId } };
        }
      }
    }
  }

  /**
   * For any `since`: both tables by token ranges (one partition per profile in each, so one token order).
   * Cost: every row key of the live table and every metadata row of the compressed one; compressed
   * histories whose last record changed before `since` are skipped unread. Memory: one range's profile ids.
   */
  async *byTokenRanges(since: number, ranges: number, after?: ChangedProfilesPosition): AsyncGenerator<ChangedProfile> {
    const from = after?.walk === 'token-ranges' ? { token: BigInt(after.token), profileId: after.profileId } : null;
    for (const [start, end] of splitTokenRing(ranges)) {
      if (from && from.token > end) continue;
      const resuming = from !== null && from.token > start;
      const lower = resuming ? from.token : start;
      const tokens = new Map<string, bigint>();
      const range = `token(profile_id) ${resuming ? '>=' : '>'} ? AND token(profile_id) <= ?`;
      const bounds = [types.Long.fromString(String(lower)), types.Long.fromString(String(end))];
      // Every live row's key, not `PER PARTITION LIMIT 1` (nor DISTINCT, the same limit): on Cassandra 5.0.5 a
      // range read that stops inside a partition fails on the node ("The UnfilteredRowIterator returned by
      // the last call to next() ... must be closed") once the rows are in several SSTables, for every try:
      // chaos seed 7's final export. Live rows are few per profile (compaction rolls them up).
      for (const row of await this.rangeRows(
        `SELECT token(profile_id) AS t, profile_id FROM ${this.ks}.live_history WHERE ${range}`,
        bounds,
      )) {
        tokens.set(row.get('profile_id'), BigInt(String(row.get('t'))));
      }
      for (const row of await this.rangeRows(
        `SELECT token(profile_id) AS t, profile_id, last_event_at FROM ${this.ks}.compressed_history WHERE ${range}`,
        bounds,
      )) {
        const lastEventAt = row.get('last_event_at') as Date | null;
        if (lastEventAt !== null && lastEventAt.getTime() >= since) {
          tokens.set(row.get('profile_id'), BigInt(String(row.get('t'))));
        }
      }
      const ordered = [...tokens].sort(([a, ta], [b, tb]) => (ta < tb ? -1 : ta > tb ? 1 : a < b ? -1 : a > b ? 1 : 0));
      for (const [profileId, token] of ordered) {
        if (from && token === from.token && profileId <= from.profileId) continue;
        yield { profileId, position: { walk: 'token-ranges', token: String(token), profileId } };
      }
    }
  }

  /**
   * Every row of one token range, read again after a transient failure (a scan of a whole range is the
   * query most likely to time out on a busy node; one timeout used to end the export). A range that keeps
   * failing is an outage: DependencyUnavailableError. Memory: one range's rows, as the walk holds anyway.
   */
  private async rangeRows(query: string, params: unknown[]): Promise<types.Row[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const rows: types.Row[] = [];
        const result = await this.client.execute(query, params, {
          prepare: true,
          fetchSize: 5_000,
          consistency: consistency(this.config.cassandra.readConsistency),
          isIdempotent: true,
        });
        for await (const row of result) rows.push(row);
        return rows;
      } catch (error) {
        const failure = asStorageError(error);
        if (!(failure instanceof DependencyUnavailableError) || attempt >= RANGE_READ_ATTEMPTS) throw failure;
        await new Promise((resolve) => setTimeout(resolve, RANGE_RETRY_DELAY_MS * attempt));
      }
    }
  }
}
