import { performance } from 'node:perf_hooks';
import { ViewingEvent } from '@vh/domain';
import { PrivateCassandra } from '../test/support/infrastructure';
import { syntheticHistory } from '../test/support/event-log';
import { BenchContext, cpuProfile, createBenchContext, percentile, round, settle } from './bench-context';
import { chunk } from './ingest.bench';
import { interruptible } from './interrupted';

export type CommitlogSync = 'group' | 'periodic';

export interface CommitlogParams {
  /** Events per measurement, in each shape. */
  events: number;
  /** Events per `append` call (one Kafka fetch), calls one after another as ingest makes them per partition. */
  eventsPerFetch: number;
  /** The clustered shape: sessions per profile of the synthetic history (~4.5 events per session). */
  sessionsPerProfile: number;
  /** Measurements per setting, in ABBA order (group, periodic | periodic, group | …). */
  rounds: number;
}

/**
 * What `commitlog_sync: group` (2 ms window, the local default: an acknowledged write survives a kill -9,
 * issue 11 §1) costs against `periodic` (10 s): ingest's own write, LiveHistoryRepository.append (live rows
 * and the activity index, its write concurrency), on a private single node (free ports, started with each
 * setting in turn), in the two shapes a fetch takes: one event per profile (live traffic: each is one
 * single-row request that waits for its sync window) and ~18 per profile (a backfill or replay: unlogged
 * batches of ≤ 20 rows).
 */
export async function commitlog(params: CommitlogParams) {
  const node = await PrivateCassandra.create();
  let ctx: BenchContext | undefined;
  let keyspace: string | undefined;
  const measurements: Measurement[] = [];
  const run = async () => {
    // ABBA: each setting is measured as often first as second in a round, so drift of the shared machine's
    // load and the growth of the table weigh on both alike; back-to-back runs of one setting share a start.
    const order = Array.from({ length: params.rounds }, (_, round) =>
      (round % 2 === 0 ? ['group', 'periodic'] : ['periodic', 'group']).map((sync) => ({
        round,
        sync: sync as CommitlogSync,
      })),
    ).flat();
    let running: CommitlogSync | null = null;
    for (const { round: r, sync } of order) {
      const env = node.infraEnv({ INFRA_CASSANDRA_COMMITLOG_SYNC: sync });
      if (running !== sync) {
        await ctx?.close();
        ctx = undefined;
        const started = Date.now();
        if (running !== null) await node.stop();
        await node.start({ INFRA_CASSANDRA_COMMITLOG_SYNC: sync });
        process.stderr.write(
          `[bench] commitlog: node up with ${sync} in ${Math.round((Date.now() - started) / 1000)} s\n`,
        );
        running = sync;
        ctx = await createBenchContext(keyspace, { CASSANDRA_CONTACT_POINTS: node.contactPoint });
        keyspace = ctx.config.cassandra.keyspace;
        const actual = await commitlogSyncOf(ctx);
        if (actual !== sync) throw new Error(`the private node runs commitlog_sync ${actual}, not ${sync}`);
        // Warm the new JVM (JIT, connections, prepared statements) with a measurement's worth of writes
        // before anything is timed: with less, the first run after a start was the slowest (1.5-3x).
        for (const shape of SHAPES) await write(ctx, events(shape, params, `warm-${r}-${sync}`), params);
      }
      const runs = {} as Record<Shape, Run>;
      for (const shape of SHAPES) {
        await settle(keyspace!, 60_000, env);
        runs[shape] = await measure(ctx!, node, events(shape, params, `r${r}-${sync}`), params);
      }
      measurements.push({ round: r, sync, ...runs });
      process.stderr.write(
        `[bench] commitlog: round ${r} ${sync}: ${SHAPES.map((s) => `${s} ${runs[s].eventsPerSecond} events/s (append p50 ${runs[s].p50Ms} ms, p99 ${runs[s].p99Ms} ms)`).join(', ')}\n`,
      );
    }
  };
  try {
    await interruptible(run);
  } finally {
    await ctx?.close().catch(() => undefined);
    await node.dispose();
  }
  const settings = {
    group: medians(measurements.filter((m) => m.sync === 'group')),
    periodic: medians(measurements.filter((m) => m.sync === 'periodic')),
  };
  const spread = pairedRatio(measurements, 'spread');
  const clustered = pairedRatio(measurements, 'clustered');
  return {
    parameters: {
      ...params,
      clusteredEventsPerProfile: round(clusteredEventsPerProfile(params)),
      rowsPerBatch: MAX_ROWS_PER_BATCH,
      writeConcurrency: ctx?.config.ingest.writeConcurrency ?? null,
      settings: { group: 'commitlog_sync_group_window: 2ms', periodic: 'commitlog_sync_period: 10000ms' },
    },
    measurements,
    settings,
    ratios: { spread, clustered },
    /** events/s with group over periodic, median of the rounds' paired ratios: one event per profile (live traffic). */
    groupVsPeriodic: spread.median,
    /** The same, ~18 events per profile (a backfill or replay). */
    groupVsPeriodicClustered: clustered.median,
  };
}

const MAX_ROWS_PER_BATCH = 20; // LiveHistoryRepository's default rowsPerBatch
const SHAPES = ['spread', 'clustered'] as const;
type Shape = (typeof SHAPES)[number];

interface Run {
  events: number;
  appends: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpu: Record<string, number | null>;
  machineShare: number;
}

type Measurement = { round: number; sync: CommitlogSync } & Record<Shape, Run>;

function clusteredEventsPerProfile(params: CommitlogParams): number {
  const history = syntheticHistory(20, params.sessionsPerProfile);
  return history.length / 20;
}

/**
 * `params.events` events of new profiles (each measurement writes new partitions): `spread` gives each event a
 * profile of its own, `clustered` keeps the synthetic history's profiles (its events one after another).
 */
function events(shape: Shape, params: CommitlogParams, tag: string): ViewingEvent[] {
  const perProfile = params.sessionsPerProfile * 4;
  const history = syntheticHistory(
    Math.ceil(params.events / perProfile),
    params.sessionsPerProfile,
    Date.now() - 3 * 86_400_000,
  ) as ViewingEvent[];
  return history
    .slice(0, params.events)
    .map((e, i) => ({ ...e, profileId: shape === 'spread' ? `${e.profileId}-${tag}-${i}` : `${e.profileId}-${tag}` }));
}

async function measure(ctx: BenchContext, node: PrivateCassandra, rows: ViewingEvent[], params: CommitlogParams) {
  const measured = await cpuProfile({ cassandra: node.pid() ?? undefined }, () => write(ctx, rows, params));
  const latencies = measured.result.sort((a, b) => a - b);
  return {
    events: rows.length,
    appends: latencies.length,
    seconds: measured.wallSeconds,
    eventsPerSecond: round(rows.length / measured.wallSeconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    cpu: measured.cpu,
    machineShare: measured.machineShare,
  };
}

/** Ingest's write: one `append` per fetch of `eventsPerFetch` events, one after another; each call's ms. */
async function write(ctx: BenchContext, rows: ViewingEvent[], params: CommitlogParams): Promise<number[]> {
  const latencies: number[] = [];
  for (const fetch of chunk(rows, params.eventsPerFetch)) {
    const started = performance.now();
    const failed = await ctx.live.append(fetch);
    if (failed.length > 0) throw new Error(`append failed: ${String(failed[0].error)}`);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** The setting the running node reports (system_views.settings), so the run measures what it names. */
async function commitlogSyncOf(ctx: BenchContext): Promise<string> {
  const result = await ctx.client.execute("SELECT value FROM system_views.settings WHERE name = 'commitlog_sync'");
  return String(result.first()?.get('value') ?? 'unknown').toLowerCase();
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** Per setting and shape: the median over rounds of events/s, p50 and p99. */
function medians(runs: Measurement[]) {
  const of = (shape: Shape) => ({
    eventsPerSecond: round(median(runs.map((m) => m[shape].eventsPerSecond))),
    p50Ms: round(median(runs.map((m) => m[shape].p50Ms))),
    p99Ms: round(median(runs.map((m) => m[shape].p99Ms))),
    rounds: runs.length,
  });
  return { spread: of('spread'), clustered: of('clustered') };
}

/**
 * group / periodic events/s of each round (the two runs of a round are adjacent, ABBA), their median and
 * range; `withinNoise` when the range reaches 1 (some round found periodic no faster) or, with a single
 * round, always: one pair cannot tell a difference from the machine's drift.
 */
function pairedRatio(measurements: Measurement[], shape: Shape) {
  const rounds = [...new Set(measurements.map((m) => m.round))];
  const perRound = rounds.flatMap((r) => {
    const g = measurements.find((m) => m.round === r && m.sync === 'group');
    const p = measurements.find((m) => m.round === r && m.sync === 'periodic');
    return g && p ? [round(g[shape].eventsPerSecond / p[shape].eventsPerSecond)] : [];
  });
  const min = Math.min(...perRound);
  const max = Math.max(...perRound);
  return {
    perRound,
    median: round(median(perRound)),
    min,
    max,
    withinNoise: perRound.length < 2 || (min <= 1 && max >= 1),
  };
}

/** BENCHMARKS.md: the headline row and the section. */
export function renderCommitlog(cl: any | undefined): { headline: string; section: string } {
  if (!cl) return { headline: '', section: '' };
  const n = (v: number) => v.toLocaleString('en');
  const g = cl.settings.group;
  const p = cl.settings.periodic;
  const noise = (r: any) =>
    `${r.median} (rounds ${r.perRound.join(', ')}${r.withinNoise ? "; within the rounds' noise" : ''})`;
  const row = (label: string, shape: Shape) =>
    `| ${label} | ${n(g[shape].eventsPerSecond)} | ${n(p[shape].eventsPerSecond)} | **${noise(cl.ratios[shape])}** | ${g[shape].p50Ms} / ${g[shape].p99Ms} | ${p[shape].p50Ms} / ${p[shape].p99Ms} |`;
  const headline = `| \`commitlog_group_vs_periodic\` | ${cl.groupVsPeriodic} | ingest's \`append\` of one event per profile with \`commitlog_sync: periodic\` (10 s) on a private node, same run, median of the paired rounds' ratios: ${n(p.spread.eventsPerSecond)} events/s (~${cl.parameters.clusteredEventsPerProfile} events per profile: ${cl.groupVsPeriodicClustered}) | | |\n`;
  const section = `## Commit log: \`group\` against \`periodic\` (issue 11 §1)

The local Cassandra runs \`commitlog_sync: group\` with a 2 ms window: a write is acknowledged only once the fsync of
the commit log holding it is done, so a \`kill -9\` of the single node (RF 1) loses no acknowledged write (invariant 2).
With \`periodic\` (10 s, Cassandra's default) a \`kill -9\` while devices posted lost 180 of 163,060 acknowledged events,
which ingest had already counted as written and committed (issue 11 §1). This measures what the default costs: a
private node (\`scripts/infra.sh\` on its own state directory and free ports) is started with each setting in turn
(\`INFRA_CASSANDRA_COMMITLOG_SYNC\`), ${cl.parameters.rounds} round(s) in ABBA order, warmed up after each start, flushed and
settled before each run. The write is ingest's own, \`LiveHistoryRepository.append\` (live rows and activity index,
${cl.parameters.writeConcurrency ?? 64} requests in flight), one call per fetch of ${n(cl.parameters.eventsPerFetch)} events, ${n(cl.parameters.events)} events per run, in two shapes: one
event per profile (live traffic: a fetch holds about one event per profile, and append sends each as a single-row
request) and ~${cl.parameters.clusteredEventsPerProfile} events per profile (a backfill or replay: unlogged batches of ≤ ${cl.parameters.rowsPerBatch} rows). Events/s and
latency per \`append\` call (ms) are medians of the rounds; the ratio is the median of the rounds' paired ratios.

| fetch shape | group events/s | periodic events/s | group / periodic | group p50 / p99 | periodic p50 / p99 |
|---|---|---|---|---|---|
${row('one event per profile (live)', 'spread')}
${row('~' + cl.parameters.clusteredEventsPerProfile + ' events per profile (backfill)', 'clustered')}

`;
  return { headline, section };
}
