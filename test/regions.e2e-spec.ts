import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { types } from 'cassandra-driver';
import { join } from 'node:path';
import { AppConfig } from '@vh/config';
import { DependencyUnavailableError } from '@vh/domain';
import { CompressedHistoryRepository, emptyVersion } from '@vh/storage';
import { CHECKOUT_ROOT } from './support/app-process';
import { AppStack } from './support/app-stack';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { PrivateRegions, RegionName } from './support/private-regions';
import { openStores, Stores } from './support/stores';
import { TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

/**
 * Two regions on loopback (issue 16): each its own Kafka cluster, Redis and apps, and its own datacenter
 * of one Cassandra cluster. An event accepted in one region is read in the other once Cassandra has
 * replicated its row; the test measures how long that takes.
 */
describe('two regions, active-active', () => {
  const regions = new PrivateRegions(join(CHECKOUT_ROOT, '.infra', 'regions-e2e'));
  const environment = {} as Record<RegionName, TestEnvironment>;
  const stack = {} as Record<RegionName, AppStack>;
  let auth: TestTokens;
  let stores: Record<RegionName, Stores>;

  const history = async (region: RegionName, profileId: string) => {
    const { status, body } = await getJson(
      `${stack[region].first('api').url}/v1/profiles/${profileId}/history?limit=200`,
      auth.recommender,
    );
    expect(status).toBe(200);
    return body.records as { recordId: string }[];
  };

  /** A compaction by the region's compactor; an unknown outcome (a Paxos timeout) is retried, as the queue would. */
  const compact = async (region: RegionName, profileId: string) => {
    for (;;) {
      try {
        return (await stores[region].compactor().compact(profileId)).status;
      } catch (error) {
        if (!(error instanceof DependencyUnavailableError)) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  beforeAll(async () => {
    const started = Date.now();
    await regions.start();
    log(`two-region infrastructure started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    Object.assign(environment, await regions.environments('regions'));
    auth = await testTokens();
    stores = { a: openStores(environment.a.config, 'regions-a'), b: openStores(environment.b.config, 'regions-b') };
    for (const region of ['a', 'b'] as const)
      stack[region] = await AppStack.start(environment[region].env, { collector: 1, ingest: 1, api: 1, compactor: 1 });
  }, 600_000);

  afterAll(async () => {
    await Promise.allSettled([stack.a?.stop(), stack.b?.stop(), stores?.a.close(), stores?.b.close()]);
    await Promise.allSettled([environment.b?.dispose(), environment.a?.dispose()]);
    await regions.dispose();
  }, 300_000);

  it('replicates the keyspace to both datacenters', async () => {
    const { rows } = await environment.b.cassandra.execute(
      'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [environment.a.config.cassandra.keyspace],
    );
    expect(rows[0].get('replication')).toEqual({
      class: 'org.apache.cassandra.locator.NetworkTopologyStrategy',
      dc1: '1',
      dc2: '1',
    });
  });

  it.each([
    ['a', 'b'],
    ['b', 'a'],
  ] as const)('an event accepted in region %s is read in region %s', async (from, to) => {
    const ingestMs: number[] = [];
    const replicationMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const profileId = uniqueProfileId(`from-${from}`);
      const [play] = watchSession(profileId, 'title-1', Date.now() - 60_000);
      const device = await auth.device(profileId);
      const posted = await postJson(`${stack[from].first('collector').url}/v1/events`, play, device);
      expect(posted.status).toBe(202);
      const acceptedAt = Date.now();
      // Read where it was accepted, then in the other region: the lag is what replication adds.
      const seen = async (region: RegionName) =>
        eventually(
          async () => {
            const { body } = await getJson(
              `${stack[region].first('api').url}/v1/profiles/${profileId}/history`,
              auth.recommender,
            );
            expect(body.records.map((r: { recordId: string }) => r.recordId)).toEqual([play.playbackSessionId]);
            return Date.now();
          },
          30_000,
          10,
        );
      const [here, there] = await Promise.all([seen(from), seen(to)]);
      ingestMs.push(here - acceptedAt);
      replicationMs.push(there - acceptedAt);
    }
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    log(
      `accepted in ${from}: readable there after ${sorted(ingestMs).join(', ')} ms, ` +
        `in ${to} after ${sorted(replicationMs).join(', ')} ms (polled every 10 ms)`,
    );
  });

  it('replicates a write acknowledged in one datacenter to the other (the lag, measured)', async () => {
    // Cassandra alone, without Kafka and ingest: a row written at LOCAL_QUORUM in dc1, polled at LOCAL_ONE
    // in dc2 until it is there.
    const ks = environment.a.config.cassandra.keyspace;
    await environment.a.cassandra.execute(`CREATE TABLE IF NOT EXISTS ${ks}.replication_probe (id uuid PRIMARY KEY)`);
    await eventually(() => environment.b.cassandra.execute(`SELECT id FROM ${ks}.replication_probe LIMIT 1`));
    const lagsMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const id = randomUUID();
      await environment.a.cassandra.execute(`INSERT INTO ${ks}.replication_probe (id) VALUES (?)`, [id], {
        prepare: true,
        consistency: types.consistencies.localQuorum,
      });
      const written = performance.now();
      for (;;) {
        const found = await environment.b.cassandra.execute(
          `SELECT id FROM ${ks}.replication_probe WHERE id = ?`,
          [id],
          {
            prepare: true,
            consistency: types.consistencies.localOne,
          },
        );
        if (found.rowLength === 1) break;
        expect(performance.now() - written).toBeLessThan(10_000);
      }
      lagsMs.push(performance.now() - written);
    }
    lagsMs.sort((x, y) => x - y);
    const at = (q: number) => lagsMs[Math.min(lagsMs.length - 1, Math.floor(q * lagsMs.length))].toFixed(1);
    log(`dc1 -> dc2 replication, 50 writes: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms (incl. one read)`);
  });

  it('lets exactly one of two regions switch a profile to the same next version at once', async () => {
    // Two compactors in two regions that read the same version race to switch it: one must lose, else
    // each region keeps its own "version 1" until replication overwrites one (docs/adr/0012).
    const repository = (region: RegionName) =>
      new CompressedHistoryRepository(environment[region].cassandra, environment[region].config as AppConfig);
    const [a, b] = [repository('a'), repository('b')];
    // Applied, not applied, or not known: Paxos under contention may time out after its proposal was
    // accepted (the compactor then fails and retries, as after a crash past the switch).
    const attempt = (repo: CompressedHistoryRepository, profileId: string, chunkSet: string) =>
      repo.switchVersion(null, emptyVersion(profileId, 1, chunkSet)).catch((error: unknown) => {
        if (error instanceof DependencyUnavailableError) return 'unknown' as const;
        throw error;
      });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const profileId = uniqueProfileId('race');
        const sets = { a: randomUUID(), b: randomUUID() };
        const [wonA, wonB] = await Promise.all([attempt(a, profileId, sets.a), attempt(b, profileId, sets.b)]);
        return { profileId, sets, wonA, wonB };
      }),
    );
    expect(outcomes.filter((o) => o.wonA === true && o.wonB === true)).toEqual([]);
    for (const { profileId, sets, wonA, wonB } of outcomes) {
      // The version that holds is the one that said so (or, if neither knew, one of the two)...
      const current = await a.readVersion(profileId, { serial: true });
      const expected = wonA === true ? [sets.a] : wonB === true ? [sets.b] : [sets.a, sets.b];
      expect(expected).toContain(current?.chunkSet);
      // ...and each datacenter reads it at LOCAL_QUORUM once replication delivered it.
      for (const repo of [a, b])
        await eventually(async () => expect((await repo.readVersion(profileId))?.chunkSet).toBe(current?.chunkSet));
    }
    log(
      `version switch race: ${outcomes.filter((o) => o.wonA === true).length} won by a, ` +
        `${outcomes.filter((o) => o.wonB === true).length} by b, ` +
        `${outcomes.filter((o) => o.wonA === 'unknown' || o.wonB === 'unknown').length} with a contention timeout`,
    );
  });

  it("compacts a profile raced by both regions' compactors into one version, no record lost or doubled", async () => {
    const DAY = 86_400_000;
    // Sessions 30 days old (past COMPACTION_MIN_AGE_MS) from each region's log, and one recent in each.
    const old = syntheticHistory(4, 6, Date.now() - 30 * DAY);
    const profileIds = [...new Set(old.map((e) => e.profileId))];
    const fromB = profileIds.flatMap((profileId) =>
      syntheticHistory(1, 2, Date.now() - 25 * DAY).map((e) => ({ ...e, profileId })),
    );
    const recent = profileIds.flatMap((profileId) =>
      syntheticHistory(1, 1, Date.now() - 3_600_000).map((e) => ({ ...e, profileId })),
    );
    await produceEvents(environment.a.kafka, environment.a.config.kafka.eventTopic, [...old, ...recent]);
    await produceEvents(environment.b.kafka, environment.b.config.kafka.eventTopic, fromB);
    const sessions = (profileId: string) =>
      new Set([...old, ...recent, ...fromB].filter((e) => e.profileId === profileId).map((e) => e.playbackSessionId))
        .size;
    const before = new Map<string, unknown>();
    for (const profileId of profileIds) {
      // Each region has ingested its own log, and Cassandra has brought it the other's rows.
      const [inA] = await eventually(async () => {
        const both = await Promise.all([history('a', profileId), history('b', profileId)]);
        for (const records of both) expect(records).toHaveLength(sessions(profileId));
        expect(both[1]).toEqual(both[0]);
        return both;
      }, 60_000);
      before.set(profileId, inA);
    }

    // Both regions' compactors on every profile at once; an unknown outcome (a Paxos timeout) is retried,
    // as the compaction queue would, until both regions find the profile up to date.
    const raced = await Promise.all(
      profileIds.map(async (profileId) => {
        const [a, b] = await Promise.all([compact('a', profileId), compact('b', profileId)]);
        return { profileId, a, b };
      }),
    );
    log(`compactor race: ${raced.map((r) => `${r.a}/${r.b}`).join(', ')}`);
    for (const profileId of profileIds) {
      await eventually(async () => {
        expect([await compact('a', profileId), await compact('b', profileId)]).toEqual(['up-to-date', 'up-to-date']);
      }, 60_000);
      const version = await stores.a.compressed.readVersion(profileId, { serial: true });
      expect(version?.version).toBeGreaterThanOrEqual(1);
      // The same records in both regions, as before: none lost, none doubled.
      await eventually(async () => {
        expect(await history('a', profileId)).toEqual(before.get(profileId));
        expect(await history('b', profileId)).toEqual(before.get(profileId));
      });
    }
  });

  it('honours a deletion made in region B in a compaction by region A', async () => {
    const profileId = uniqueProfileId('delete-in-b');
    const old = syntheticHistory(1, 3, Date.now() - 30 * 86_400_000).map((e) => ({ ...e, profileId }));
    await produceEvents(environment.a.kafka, environment.a.config.kafka.eventTopic, old);
    const [removed, ...kept] = [...new Set(old.map((e) => e.playbackSessionId))];
    await eventually(async () => expect(await history('b', profileId)).toHaveLength(3), 60_000);

    const deleted = await fetch(`${stack.b.first('api').url}/v1/profiles/${profileId}/history/${removed}`, {
      method: 'DELETE',
      headers: await auth.device(profileId),
    });
    expect(deleted.status).toBe(202);
    const ids = async (region: RegionName) => (await history(region, profileId)).map((r) => r.recordId).sort();
    // Through region B's log and ingest, then replicated to region A's datacenter.
    await eventually(async () => expect(await ids('a')).toEqual([...kept].sort()), 60_000);

    expect(await compact('a', profileId)).toBe('compacted');
    const version = await stores.a.compressed.readVersion(profileId, { serial: true });
    expect(version?.version).toBe(1);
    for (const region of ['a', 'b'] as const) expect(await ids(region)).toEqual([...kept].sort());
  });
});

function log(line: string): void {
  process.stdout.write(`[regions] ${line}\n`);
}
