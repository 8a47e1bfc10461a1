import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'cassandra-driver';
import { AppConfig, loadConfig } from '@vh/config';
import {
  ChangedProfilesWalk,
  createCassandraClient,
  LiveHistoryPartitions,
  LiveHistoryRepository,
  migrateSchema,
  ProfileActivityIndex,
} from '@vh/storage';
import { CHECKOUT_ROOT } from './support/app-process';
import { playEvent } from './support/playback-events';
import { PrivateInfrastructure } from './support/private-infrastructure';

const DAY = 86_400_000;

/**
 * Finding 3 of the chaos runs (seed 7, 12 minutes): once live rows sat in several SSTables (after a
 * restart), a token-range read with `PER PARTITION LIMIT 1` failed on Cassandra 5.0.5 itself ("The
 * UnfilteredRowIterator returned by the last call to next() was initialized: it must be closed"), on every
 * try, so the export ended as interrupted. A guard of the walks over such data, not a reproduction: on this
 * set-up (a private Cassandra restarted between writes and the compactor's kinds of deletes) the node
 * answered the old query too, in two tries.
 */
describe('token-range walks of live rows spread over several SSTables', () => {
  // Below Linux's ephemeral range (32768-60999): a port there may be any suite's listener or connection at
  // the moment this node binds it, and the node dies at start (CI run of session 13, 39042/37000/37199).
  const infra = new PrivateInfrastructure(join(CHECKOUT_ROOT, '.infra/range-scan'), {
    kafka: 22092,
    kafkaController: 22093,
    cassandra: 22042,
    cassandraStorage: 22700,
    cassandraJmx: 22199,
    redis: 22379,
  });
  let config: AppConfig;
  let client: Client | undefined;
  const keyspace = `range_scan_${randomBytes(4).toString('hex')}`;
  const profiles = Array.from({ length: 12 }, (_, i) => `range-${i}-${randomUUID()}`);

  const connect = async () => {
    await client?.shutdown();
    client = createCassandraClient(config.cassandra, 'e2e-range-scan');
    return new LiveHistoryRepository(client, config, new ProfileActivityIndex(client, config));
  };
  /**
   * Rows for every profile, then the compactor's kinds of deletes: for a third of them everything (a
   * partition left with tombstones only), for a third the oldest rows by a range delete and some more one
   * by one at their own write time, the rest untouched.
   */
  const writeRound = async (live: LiveHistoryRepository, round: number) => {
    const base = Date.now() - (20 - round * 5) * DAY;
    const events = profiles.flatMap((p) =>
      Array.from({ length: 30 }, (_, i) => playEvent(p, base + i * 60_000, Date.now())),
    );
    expect(await live.append(events)).toEqual([]);
    for (const [i, p] of profiles.entries()) {
      if (i % 3 === 2) continue;
      const read = await live.readProfile(p, { withWriteTime: true });
      const everything = i % 3 === 0;
      const instant = everything ? Date.now() : base + 20 * 60_000;
      // Dated just below the newest write: the newest rows read are deleted one by one.
      const tombstoneUs = read.newestWriteTimeUs! - (everything ? 0 : 1);
      const byKey = read.rowsRead.filter((row) => row.occurredAt < instant && row.writeTimeUs > tombstoneUs);
      await live.deleteBefore(p, instant, tombstoneUs, byKey);
    }
  };
  /** After the last round: the profiles whose rows the last round did not delete entirely. */
  const withLiveRows = () => profiles.filter((_, i) => i % 3 !== 0);

  beforeAll(async () => {
    await infra.startCassandra();
    config = loadConfig({
      ...process.env,
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${infra.ports.cassandra}`,
      CASSANDRA_KEYSPACE: keyspace,
    });
    let live = await connect();
    await migrateSchema(client!, config.cassandra);
    for (let round = 0; round < 3; round++) {
      await writeRound(live, round);
      // A clean stop flushes the memtables: each round is one more SSTable.
      await client!.shutdown();
      client = undefined;
      await infra.stopCassandra();
      await infra.startCassandra();
      live = await connect();
    }
  }, 1_200_000);

  afterAll(async () => {
    await client?.shutdown();
    await infra.dispose();
    rmSync(infra.stateDir, { recursive: true, force: true });
  });

  it('the export walk gives every profile', async () => {
    const walk = new ChangedProfilesWalk(client!, config, new ProfileActivityIndex(client!, config));
    const given: string[] = [];
    for await (const { profileId } of walk.byTokenRanges(0, 4)) given.push(profileId);
    expect(given.sort()).toEqual(withLiveRows().sort());
  });

  it('the walk of {"all": true} compactions gives every profile with old rows', async () => {
    const partitions = new LiveHistoryPartitions(client!, config);
    const given: string[] = [];
    for await (const profileId of partitions.profilesWithEventsBefore(Date.now(), 4)) given.push(profileId);
    expect(given.sort()).toEqual(withLiveRows().sort());
  });
});
