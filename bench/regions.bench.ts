import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { types } from 'cassandra-driver';
import { AppStack } from '../test/support/app-stack';
import { getJson, postJson, uniqueProfileId, watchSession } from '../test/support/playback-events';
import { PrivateRegions, PrivateRegionsPorts, RegionName } from '../test/support/private-regions';
import { TestEnvironment } from '../test/support/test-environment';
import { testTokens } from '../test/support/tokens';
import { percentile, round } from './bench-context';
import { interruptible } from './interrupted';

export interface RegionsParams {
  /** Rows written per direction (dc1 -> dc2, dc2 -> dc1), one at a time, directions alternating. */
  writes: number;
  /** Sessions posted per direction (region A -> B, B -> A) and read back through both regions' APIs. */
  sessions: number;
}

/**
 * Away from the shared services (9042/9092/6379), the chaos checker's (19xxx, 29xxx, Redis 26379), the
 * regions and evacuation suites' (24xxx, 25xxx) and the commitlog step's (27xxx).
 */
const PORTS: PrivateRegionsPorts = {
  kafka: 26092,
  kafkaController: 26093,
  kafkaB: 26192,
  kafkaBController: 26193,
  cassandra: 26042,
  cassandraStorage: 26700,
  cassandraJmx: 26199,
  cassandraBJmx: 26299,
  redis: 26479,
  redisB: 26480,
};
const DC: Record<RegionName, string> = { a: 'dc1', b: 'dc2' };
const OTHER: Record<RegionName, RegionName> = { a: 'b', b: 'a' };
/** How often the end-to-end step asks each region's API for the posted session (as regions.e2e-spec.ts). */
const POLL_MS = 10;
const VISIBLE_TIMEOUT_MS = 60_000;

/**
 * Cross-region replication lag (issue 16 §1) on two regions on loopback (test/support/private-regions.ts,
 * ports and a state directory of the step's own): (a) Cassandra alone, a row acknowledged at LOCAL_QUORUM
 * in one datacenter until a LOCAL_ONE read in the other returns it, against one such read alone; (b) end
 * to end, a session posted to one region's collector until the other region's API serves it, against
 * the same region's API (ingest time, which replication adds to).
 */
export async function regions(params: RegionsParams) {
  const infra = new PrivateRegions(mkdtempSync(join(tmpdir(), 'vh-bench-regions-')), PORTS);
  const environment = {} as Record<RegionName, TestEnvironment>;
  const stack = {} as Partial<Record<RegionName, AppStack>>;
  const stop = async () => {
    await Promise.allSettled([stack.a?.stop(), stack.b?.stop()]);
    await Promise.allSettled([environment.b?.dispose(), environment.a?.dispose()]);
    await infra.dispose();
    log('regions stopped, state removed');
  };
  const loadBefore = loadavg();
  // A signal fails the step: the regions stop below, and run.ts drops the shared node's keyspace.
  const run = async () => {
    const started = Date.now();
    await infra.start();
    const infraSeconds = (Date.now() - started) / 1000;
    log(`two regions up in ${Math.round(infraSeconds)} s`);
    Object.assign(environment, await infra.environments('bench_regions'));
    const cassandra = await cassandraLag(environment, params.writes);
    log(
      `cassandra: dc1->dc2 p50 ${cassandra.directions.dc1ToDc2.p50Ms} ms, dc2->dc1 p50 ${cassandra.directions.dc2ToDc1.p50Ms} ms, one read alone p50 ${cassandra.readAlone.p50Ms} ms`,
    );
    for (const region of ['a', 'b'] as const)
      stack[region] = await AppStack.start(environment[region].env, { collector: 1, ingest: 1, api: 1 });
    const endToEnd = await visibleLag(stack as Record<RegionName, AppStack>, params.sessions);
    log(`end to end: other region p50 ${endToEnd.otherRegion.p50Ms} ms, own region p50 ${endToEnd.ownRegion.p50Ms} ms`);
    return {
      parameters: {
        ...params,
        pollMs: POLL_MS,
        ports: PORTS,
        replication: 'NetworkTopologyStrategy dc1:1, dc2:1',
        apps: 'per region: 1 collector, 1 ingest, 1 API (the test environment settings)',
      },
      infraStartSeconds: round(infraSeconds),
      loadAverage: { before: loadBefore.map((l) => round(l)), after: loadavg().map((l) => round(l)) },
      cassandra,
      endToEnd,
    };
  };
  try {
    return await interruptible(run);
  } finally {
    await stop();
  }
}

/**
 * A row written at LOCAL_QUORUM through one region's client (its own datacenter only), then read at
 * LOCAL_ONE through the other's until it is there: the lag of one write is from the write's
 * acknowledgement until the first read that returns it, so it includes at least one read round trip.
 * The baseline is that round trip alone: a read of an existing row, interleaved with the writes.
 */
async function cassandraLag(environment: Record<RegionName, TestEnvironment>, writes: number) {
  const ks = environment.a.config.cassandra.keyspace;
  const table = `${ks}.replication_probe`;
  await environment.a.cassandra.execute(`CREATE TABLE IF NOT EXISTS ${table} (id uuid PRIMARY KEY)`);
  await until(() => environment.b.cassandra.execute(`SELECT id FROM ${table} LIMIT 1`).then(() => true), 60_000, 200);
  const write = (region: RegionName, id: string) =>
    environment[region].cassandra.execute(`INSERT INTO ${table} (id) VALUES (?)`, [id], {
      prepare: true,
      consistency: types.consistencies.localQuorum,
    });
  const read = async (region: RegionName, id: string) =>
    (
      await environment[region].cassandra.execute(`SELECT id FROM ${table} WHERE id = ?`, [id], {
        prepare: true,
        consistency: types.consistencies.localOne,
      })
    ).rowLength === 1;

  // Rows each datacenter already has, for the read alone.
  const known: Record<RegionName, string> = { a: randomUUID(), b: randomUUID() };
  for (const region of ['a', 'b'] as const) {
    await write(region, known[region]);
    await until(() => read(OTHER[region], known[region]), 10_000, 0);
  }
  const samples = {
    a: [] as { lagMs: number; reads: number; writeMs: number }[],
    b: [] as { lagMs: number; reads: number; writeMs: number }[],
  };
  const readAloneMs: number[] = [];
  const one = async (from: RegionName) => {
    const id = randomUUID();
    const sent = performance.now();
    await write(from, id);
    const acknowledged = performance.now();
    let reads = 0;
    for (;;) {
      reads++;
      if (await read(OTHER[from], id)) break;
      if (performance.now() - acknowledged > 10_000) throw new Error(`a row written in ${DC[from]} never arrived`);
    }
    return { lagMs: performance.now() - acknowledged, reads, writeMs: acknowledged - sent };
  };
  const readAlone = async (region: RegionName) => {
    const started = performance.now();
    if (!(await read(region, known[OTHER[region]]))) throw new Error('a replicated row went missing');
    return performance.now() - started;
  };
  // Warm-up (JIT, prepared statements, connections): not counted.
  for (let i = 0; i < Math.min(20, writes); i++) {
    await one(i % 2 === 0 ? 'a' : 'b');
    await readAlone(i % 2 === 0 ? 'b' : 'a');
  }
  // Directions alternate, each followed by the read alone in the datacenter just read: all three under
  // the same drift of the shared machine's load.
  for (let i = 0; i < writes; i++)
    for (const from of ['a', 'b'] as const) {
      samples[from].push(await one(from));
      readAloneMs.push(await readAlone(OTHER[from]));
    }
  const direction = (from: RegionName) => {
    const s = samples[from];
    const lag = stats(s.map((x) => x.lagMs));
    return {
      ...lag,
      /** Share of writes the first read in the other datacenter already returned. */
      firstReadShare: round(s.filter((x) => x.reads === 1).length / s.length),
      readsMax: Math.max(...s.map((x) => x.reads)),
      writeP50Ms: stats(s.map((x) => x.writeMs)).p50Ms,
    };
  };
  const both = stats([...samples.a, ...samples.b].map((x) => x.lagMs));
  const alone = stats(readAloneMs);
  return {
    directions: { dc1ToDc2: direction('a'), dc2ToDc1: direction('b') },
    both,
    readAlone: alone,
    /** Both directions' p50 and p99 less the read alone's p50: what replication adds, roughly. */
    bothLessReadP50: { p50Ms: round(Math.max(0, both.p50Ms - alone.p50Ms)), p99Ms: round(both.p99Ms - alone.p50Ms) },
  };
}

/**
 * One session's first event posted to a region's collector (202), then both regions' APIs asked every
 * POLL_MS for the profile's history until it holds the session: the own region's time is ingest's
 * (Kafka, ingest, a LOCAL_QUORUM write), the other region's that plus Cassandra's replication.
 */
async function visibleLag(stack: Record<RegionName, AppStack>, sessions: number) {
  const auth = await testTokens();
  const one = async (from: RegionName) => {
    const profileId = uniqueProfileId(`bench-from-${from}`);
    const [play] = watchSession(profileId, 'title-1', Date.now() - 60_000);
    const posted = await postJson(
      `${stack[from].first('collector').url}/v1/events`,
      play,
      await auth.device(profileId),
    );
    if (posted.status !== 202) throw new Error(`the collector in ${from} answered ${posted.status}`);
    const accepted = performance.now();
    const seen = (region: RegionName) =>
      until(async () => {
        const { status, body } = await getJson(
          `${stack[region].first('api').url}/v1/profiles/${profileId}/history`,
          auth.recommender,
        );
        return status === 200 && body.records.some((r: { recordId: string }) => r.recordId === play.playbackSessionId);
      }, VISIBLE_TIMEOUT_MS).then(() => performance.now() - accepted);
    const [own, other] = await Promise.all([seen(from), seen(OTHER[from])]);
    return { own, other };
  };
  // Warm-up: both ingest processes joined their groups and every path ran once.
  for (const from of ['a', 'b'] as const) await one(from);
  const samples = { a: [] as { own: number; other: number }[], b: [] as { own: number; other: number }[] };
  for (let i = 0; i < sessions; i++) for (const from of ['a', 'b'] as const) samples[from].push(await one(from));
  const all = [...samples.a, ...samples.b];
  const direction = (from: RegionName) => ({
    ownRegion: stats(samples[from].map((s) => s.own)),
    otherRegion: stats(samples[from].map((s) => s.other)),
  });
  return {
    directions: { aToB: direction('a'), bToA: direction('b') },
    ownRegion: stats(all.map((s) => s.own)),
    otherRegion: stats(all.map((s) => s.other)),
    /** Per session, the other region's time less the own region's: what replication added end to end. */
    added: stats(all.map((s) => s.other - s.own)),
  };
}

function stats(samplesMs: number[]) {
  const sorted = [...samplesMs].sort((x, y) => x - y);
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1]),
  };
}

/** Asks until `check` says yes (errors count as no); fails after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs = POLL_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`not there after ${timeoutMs} ms (last error: ${String(lastError)})`);
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function log(line: string): void {
  process.stderr.write(`[bench] regions: ${line}\n`);
}

/** BENCHMARKS.md: the headline rows and the section. */
export function renderRegions(rg: any | undefined, cores: number): { headline: string; section: string } {
  if (!rg) return { headline: '', section: '' };
  const c = rg.cassandra;
  const e = rg.endToEnd;
  const p = rg.parameters;
  const row = (label: string, s: any, extra = '') =>
    `| ${label} | ${s.samples} | ${s.p50Ms} | ${s.p90Ms} | ${s.p99Ms} | ${s.maxMs} |${extra}`;
  const share = (d: any) => ` ${Math.round(d.firstReadShare * 100)}% | ${d.writeP50Ms} |`;
  const headline =
    `| \`cross_region_lag_p50_ms\` | ${c.both.p50Ms} ms | one LOCAL_ONE read alone in the other datacenter, same run: p50 ${c.readAlone.p50Ms} ms (loopback, RF 1 per DC) | | |\n` +
    `| \`cross_region_lag_p99_ms\` | ${c.both.p99Ms} ms | the same: p99 ${c.readAlone.p99Ms} ms | | |\n` +
    `| \`cross_region_visible_p50_ms\` | ${e.otherRegion.p50Ms} ms | the posting region's own API, same sessions: p50 ${e.ownRegion.p50Ms} ms (p99 ${e.otherRegion.p99Ms} against ${e.ownRegion.p99Ms} ms) | | |\n`;
  const section = `## Cross-region replication lag (issue 16 §1)

Two regions on loopback, started by the step itself (\`test/support/private-regions.ts\`, \`scripts/infra.sh --regions 2\`
on a state directory and ports of its own, ${p.ports.cassandra}/${p.ports.kafka}/${p.ports.kafkaB}, up in ${rg.infraStartSeconds} s): each region its own
Kafka cluster, Redis and apps, and its own datacenter of one Cassandra cluster (dc1 on 127.0.0.1, dc2 on 127.0.0.2),
the keyspace replicated ${p.replication}. All four JVMs, the apps and the load generator share the machine's
${cores} cores (load average ${rg.loadAverage.before[0]} before the step, ${rg.loadAverage.after[0]} after: other work shares it too).

**Cassandra alone**: a row written at \`LOCAL_QUORUM\` through one region's client (its own datacenter only), then
read at \`LOCAL_ONE\` through the other's, again and again with no pause, until it is there. A write's lag runs from
its acknowledgement to the first read that returns it, so it holds at least one read round trip; the baseline is
that round trip alone (a read of a row the datacenter already has), one after each write, in the datacenter just
read. ${p.writes} writes per direction, directions alternating. "First read": the share of writes the first read already
found (the coordinator sends the mutation to the other datacenter while it writes its own replica, so on loopback
it often arrives before the acknowledgement does).

| direction | writes | p50 ms | p90 ms | p99 ms | max ms | first read | write p50 ms |
|---|---|---|---|---|---|---|---|
${row('dc1 → dc2', c.directions.dc1ToDc2, share(c.directions.dc1ToDc2))}
${row('dc2 → dc1', c.directions.dc2ToDc1, share(c.directions.dc2ToDc1))}
${row('both', c.both, ' | |')}
${row('baseline: one read alone', c.readAlone, ' | |')}

**End to end**: the first event of a session posted to one region's collector (202), then both regions' APIs asked
every ${p.pollMs} ms for the profile's history until it holds the session. The posting region's own API is the baseline
(Kafka, ingest, the \`LOCAL_QUORUM\` write: what replication adds to); the other region's is what a device that fails
over, or a recommender reading there, waits for. ${p.sessions} sessions per direction, alternating; ${p.apps}.
Times from the 202, so each holds up to one poll interval and one HTTP read.

| posted in | read in | sessions | p50 ms | p90 ms | p99 ms | max ms |
|---|---|---|---|---|---|---|
${row('A | B', e.directions.aToB.otherRegion)}
${row('A | A (baseline)', e.directions.aToB.ownRegion)}
${row('B | A', e.directions.bToA.otherRegion)}
${row('B | B (baseline)', e.directions.bToA.ownRegion)}
${row('both | the other region', e.otherRegion)}
${row('both | its own (baseline)', e.ownRegion)}
${row('both | other less own, per session', e.added)}

Not a production figure. Here the datacenters are one loopback hop apart (microseconds), RF is 1 per datacenter (a
\`LOCAL_QUORUM\` write waits for one local replica), and the times are the processes' own on a busy shared machine
(a read alone takes ${c.readAlone.p50Ms} ms at the median). Between real regions the mutation crosses the WAN: round trips
between regions take tens of ms within a continent and roughly 70-250 ms between continents, so the lag is at least
the one-way half of that plus the remote replica's write, and grows with the load on the link and, after an outage,
with the hints to replay. With RF 3 per datacenter a write also waits for a second local replica and a read in the
other region for two of its replicas. Ingest's own time, the end-to-end baseline, does not depend on the distance.

`;
  return { headline, section };
}
