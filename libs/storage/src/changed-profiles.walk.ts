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
  | { walk: 'activity-index'; shard: number; profileId: string }
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
   * For a recent `since`: the activity index, shard by shard; in each shard the day buckets from the day of
   * `since` to the day of `until` are read as streams in profile-id order and merged, so each profile comes
   * once, in the place of its id, whichever days it was active on. A record changed since `since` had an
   * event on one of these days, and compaction never removes index rows (they expire after 90 days), so
   * compressed-only profiles are found too. Cost: one bucket read per (day, shard), no read per profile.
   * Memory: one page per day bucket of one shard, whatever the number of profiles. Stateless: a position
   * (shard, profile) says all that was given, so a walk resumed in another request gives no profile twice,
   * and an event arriving meanwhile for a profile already passed cannot bring it back.
   */
  async *byActivity(since: number, until: number, after?: ChangedProfilesPosition): AsyncGenerator<ChangedProfile> {
    const days = daysBetween(since, until);
    const from = after?.walk === 'activity-index' ? after : undefined;
    for (let shard = from?.shard ?? 0; shard < ACTIVITY_SHARDS; shard++) {
      const resumeAfter = from && shard === from.shard ? from.profileId : undefined;
      const streams = days.map((day) => this.activity.profilesOfBucket(day, shard, resumeAfter));
      for await (const profileId of mergeDistinct(streams)) {
        yield { profileId, position: { walk: 'activity-index', shard, profileId } };
      }
    }
  }

  /**
   * For any `since`: both tables by token ranges (one partition per profile in each, so one token order).
   * Cost: every partition key of the live table and every metadata row of the compressed one; compressed
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
      for (const row of await this.rangeRows(
        `SELECT token(profile_id) AS t, profile_id FROM ${this.ks}.live_history WHERE ${range} PER PARTITION LIMIT 1`,
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

/** Streams each in ascending order, merged into one ascending stream without repeats. Holds one head each. */
async function* mergeDistinct(streams: AsyncGenerator<string>[]): AsyncGenerator<string> {
  const heads = await Promise.all(streams.map((stream) => stream.next()));
  let last: string | undefined;
  for (;;) {
    let min: string | undefined;
    for (const head of heads) if (!head.done && (min === undefined || head.value < min)) min = head.value;
    if (min === undefined) return;
    // Every stream at the smallest id moves on: a profile active on several days comes once.
    await Promise.all(
      heads.map(async (head, i) => {
        if (!head.done && head.value === min) heads[i] = await streams[i].next();
      }),
    );
    if (last === undefined || min > last) yield min;
    last = min;
  }
}
