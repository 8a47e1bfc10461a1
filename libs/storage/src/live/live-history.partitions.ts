import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { splitTokenRing } from './live-history.repository';
import { LiveHistoryProfileWalk } from '../ports/live-history.profile-walk';

const FETCH_SIZE = 5_000;

/** The live table's partitions, walked by token range: what exists, whatever the activity index says. */
@Injectable()
export class LiveHistoryPartitions implements LiveHistoryProfileWalk {
  private readonly table: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.table = `${config.cassandra.keyspace}.live_history`;
  }

  /**
   * Every profile whose oldest live event is before `instant`: the first row of each partition (the oldest:
   * rows cluster by event time). Every row is read, not `PER PARTITION LIMIT 1`: on Cassandra 5.0.5 a range
   * read that stops inside a partition fails on the node once the rows are in several SSTables (see
   * ChangedProfilesWalk.byTokenRanges). Cost: the live rows' keys, which compaction keeps few.
   */
  async *profilesWithEventsBefore(instant: number, ranges: number): AsyncGenerator<string> {
    const query =
      `SELECT profile_id, occurred_at FROM ${this.table} ` + `WHERE token(profile_id) > ? AND token(profile_id) <= ?`;
    const options = {
      prepare: true,
      fetchSize: FETCH_SIZE,
      consistency: consistency(this.config.cassandra.readConsistency),
    };
    for (const [start, end] of splitTokenRing(ranges)) {
      let result: types.ResultSet;
      try {
        result = await this.client.execute(
          query,
          [types.Long.fromString(String(start)), types.Long.fromString(String(end))],
          options,
        );
      } catch (error) {
        throw asStorageError(error);
      }
      // A partition's rows come together, oldest first: only its first row decides.
      let previous: string | null = null;
      for await (const row of result) {
        const profileId = row.get('profile_id') as string;
        if (profileId === previous) continue;
        previous = profileId;
        if ((row.get('occurred_at') as Date).getTime() < instant) yield profileId;
      }
    }
  }
}
