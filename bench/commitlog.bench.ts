import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ViewingEvent } from '@vh/domain';
import { consistency } from '@vh/storage';
import { syntheticHistory } from '../test/support/event-log';
import { BenchContext, cpuProfile, createBenchContext, percentile, ROOT, round, settle } from './bench-context';
import { chunk } from './ingest.bench';

export type CommitlogSync = 'group' | 'periodic';

export interface CommitlogParams {
  /** Events of this many profiles per measurement, written one unlogged batch of ≤ 20 rows per request. */
  profiles: number;
  sessionsPerProfile: number;
  /** The first this many of them again, one row per request. */
  rowEvents: number;
  /** Measurements per setting, in ABBA order (group, periodic | periodic, group | …). */
  rounds: number;
  concurrency: number;
}

/** Away from the shared node (9042/7000/7199) and the tests' private ones (19xxx, 24xxx, 25xxx, 29xxx). */
const PORTS = { cassandra: 27042, storage: 27000, jmx: 27199 };
const ROWS_PER_BATCH = 20; // as LiveHistoryRepository.append (MAX_ROWS_PER_BATCH)

/**
 * What `commitlog_sync: group` (2 ms window, the local default: an acknowledged write survives a kill -9,
 * issue 11 §1) costs against `periodic` (10 s): raw write throughput and latency of the live table's own
 * statement (LiveHistoryRepository.insert) on a private single node, started with each setting in turn.
 */
export async function commitlog(params: CommitlogParams) {
  const node = new PrivateCassandra();
  let ctx: BenchContext | undefined;
  let keyspace: string | undefined;
  const measurements: Measurement[] = [];
  const stopOnSignal = () => {
    node.disposeSync();
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal).once('SIGTERM', stopOnSignal);
  try {
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
      if (running !== sync) {
        await ctx?.close();
        ctx = undefined;
        const started = Date.now();
        await node.restart(sync);
        process.stderr.write(
          `[bench] commitlog: node up with ${sync} in ${Math.round((Date.now() - started) / 1000)} s\n`,
        );
        running = sync;
        ctx = await createBenchContext(keyspace, { CASSANDRA_CONTACT_POINTS: `127.0.0.1:${PORTS.cassandra}` });
        keyspace = ctx.config.cassandra.keyspace;
        const actual = await node.commitlogSync(ctx);
        if (actual !== sync) throw new Error(`the private node runs commitlog_sync ${actual}, not ${sync}`);
        // Warm the new JVM (JIT, connections, prepared statements) with a measurement's worth of writes
        // before anything is timed: with less, the first run after a start was the slowest (1.5-3x).
        const warm = events(params.profiles, params.sessionsPerProfile, `warm-${r}-${sync}`);
        await write(ctx, warm, 'profile-batch', params.concurrency);
        await write(ctx, warm.slice(0, params.rowEvents), 'row', params.concurrency);
      }
      const batchRows = events(params.profiles, params.sessionsPerProfile, `r${r}-${sync}-batch`);
      const rowRows = events(params.profiles, params.sessionsPerProfile, `r${r}-${sync}-row`).slice(
        0,
        params.rowEvents,
      );
      await settle(keyspace!, 60_000, node.env());
      const batch = await measure(ctx!, node, batchRows, 'profile-batch', params.concurrency);
      await settle(keyspace!, 60_000, node.env());
      const row = await measure(ctx!, node, rowRows, 'row', params.concurrency);
      measurements.push({ round: r, sync, batch, row });
      process.stderr.write(
        `[bench] commitlog: round ${r} ${sync}: batch ${batch.eventsPerSecond} events/s (p50 ${batch.p50Ms} ms, p99 ${batch.p99Ms} ms), row ${row.eventsPerSecond} events/s (p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms)\n`,
      );
    }
  } finally {
    await ctx?.close().catch(() => undefined);
    process.removeListener('SIGINT', stopOnSignal).removeListener('SIGTERM', stopOnSignal);
    node.disposeSync();
  }
  const settings = {
    group: medians(measurements.filter((m) => m.sync === 'group')),
    periodic: medians(measurements.filter((m) => m.sync === 'periodic')),
  };
  return {
    parameters: {
      ...params,
      batchEvents: measurements[0]?.batch.events ?? 0,
      rowEvents: measurements[0]?.row.events ?? 0,
      rowsPerBatch: ROWS_PER_BATCH,
      ports: PORTS,
      settings: { group: 'commitlog_sync_group_window: 2ms', periodic: 'commitlog_sync_period: 10000ms' },
    },
    measurements,
    settings,
    /** events/s with group over events/s with periodic, medians of the rounds: unlogged batches (ingest's shape). */
    groupVsPeriodic: round(settings.group.batch.eventsPerSecond / settings.periodic.batch.eventsPerSecond),
    /** The same, one row per request. */
    groupVsPeriodicRow: round(settings.group.row.eventsPerSecond / settings.periodic.row.eventsPerSecond),
  };
}

type Mode = 'profile-batch' | 'row';

interface Run {
  events: number;
  requests: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpu: Record<string, number | null>;
  machineShare: number;
}

interface Measurement {
  round: number;
  sync: CommitlogSync;
  batch: Run;
  row: Run;
}

/** Synthetic playback history whose profile ids are the measurement's own (each writes new partitions). */
function events(profiles: number, sessionsPerProfile: number, tag: string): ViewingEvent[] {
  const history = syntheticHistory(profiles, sessionsPerProfile, Date.now() - 3 * 86_400_000) as ViewingEvent[];
  return history.map((e) => ({ ...e, profileId: `${e.profileId}-${tag}` }));
}

async function measure(
  ctx: BenchContext,
  node: PrivateCassandra,
  rows: ViewingEvent[],
  mode: Mode,
  concurrency: number,
) {
  const measured = await cpuProfile({ cassandra: node.pid() }, () => write(ctx, rows, mode, concurrency));
  const latencies = measured.result.sort((a, b) => a - b);
  return {
    events: rows.length,
    requests: latencies.length,
    seconds: measured.wallSeconds,
    eventsPerSecond: round(rows.length / measured.wallSeconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    cpu: measured.cpu,
    machineShare: measured.machineShare,
  };
}

/**
 * Writes the rows with the live table's statement and write options (as LiveHistoryRepository.append),
 * `concurrency` requests in flight; returns each request's latency in ms.
 */
async function write(ctx: BenchContext, rows: ViewingEvent[], mode: Mode, concurrency: number): Promise<number[]> {
  const options = {
    prepare: true,
    consistency: consistency(ctx.config.cassandra.writeConsistency),
    isIdempotent: true,
  };
  const requests: ViewingEvent[][] = [];
  if (mode === 'row') requests.push(...rows.map((e) => [e]));
  else {
    const byProfile = new Map<string, ViewingEvent[]>();
    for (const e of rows) byProfile.set(e.profileId, [...(byProfile.get(e.profileId) ?? []), e]);
    for (const list of byProfile.values()) requests.push(...chunk(list, ROWS_PER_BATCH));
  }
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++];
      const started = performance.now();
      if (mode === 'row') await ctx.client.execute(ctx.live.insert, ctx.live.params(request[0]), options);
      else
        await ctx.client.batch(
          request.map((e) => ({ query: ctx.live.insert, params: ctx.live.params(e) })),
          { ...options, logged: false },
        );
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}

/** Per setting and mode: the median over rounds of events/s, p50 and p99. */
function medians(runs: Measurement[]) {
  const median = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  const of = (mode: 'batch' | 'row') => ({
    eventsPerSecond: round(median(runs.map((m) => m[mode].eventsPerSecond))),
    p50Ms: round(median(runs.map((m) => m[mode].p50Ms))),
    p99Ms: round(median(runs.map((m) => m[mode].p99Ms))),
    rounds: runs.length,
  });
  return { batch: of('batch'), row: of('row') };
}

/**
 * One Cassandra node of the benchmark's own (scripts/infra.sh on a state directory under the temp dir and
 * ports of its own): started, restarted with the other commit log setting, stopped and deleted at the end.
 */
class PrivateCassandra {
  private readonly stateDir = mkdtempSync(join(tmpdir(), 'vh-bench-commitlog-'));
  private sync: CommitlogSync = 'group';

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      INFRA_STATE_DIR: this.stateDir,
      INFRA_CASSANDRA_PORT: String(PORTS.cassandra),
      INFRA_CASSANDRA_STORAGE_PORT: String(PORTS.storage),
      INFRA_CASSANDRA_JMX_PORT: String(PORTS.jmx),
      INFRA_CASSANDRA_CLUSTER: 'viewing-history-bench-commitlog',
      INFRA_CASSANDRA_COMMITLOG_SYNC: this.sync,
    };
  }

  /** Clean stop (if running), then a start that renders cassandra.yaml with `sync`. */
  async restart(sync: CommitlogSync): Promise<void> {
    this.infra('stop', 'cassandra');
    // infra.sh uses a node that already answers on the port as it is: that one would not run `sync`.
    if (await portOpen(PORTS.cassandra))
      throw new Error(`port ${PORTS.cassandra} is taken by a process this benchmark did not start`);
    this.sync = sync;
    this.infra('start', 'cassandra');
  }

  /** The setting the running node reports (system_views.settings), so the run measures what it names. */
  async commitlogSync(ctx: BenchContext): Promise<string> {
    const result = await ctx.client.execute("SELECT value FROM system_views.settings WHERE name = 'commitlog_sync'");
    return String(result.first()?.get('value') ?? 'unknown').toLowerCase();
  }

  pid(): number | undefined {
    try {
      return Number(readFileSync(join(this.stateDir, 'cassandra', 'pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Stops the node (by the pid infra.sh recorded) and deletes its state directory; safe to call twice. */
  disposeSync(): void {
    try {
      this.infra('stop', 'cassandra');
    } catch (error) {
      process.stderr.write(`[bench] commitlog: stopping the private node failed: ${String(error)}\n`);
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  private infra(...args: string[]): void {
    execFileSync('bash', [join(ROOT, 'scripts/infra.sh'), ...args], {
      env: this.env(),
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 600_000,
    });
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** BENCHMARKS.md: the headline row and the section. */
export function renderCommitlog(cl: any | undefined): { headline: string; section: string } {
  if (!cl) return { headline: '', section: '' };
  const n = (v: number) => v.toLocaleString('en');
  const g = cl.settings.group;
  const p = cl.settings.periodic;
  const row = (label: string, mode: 'batch' | 'row', ratio: number) =>
    `| ${label} | ${n(g[mode].eventsPerSecond)} | ${n(p[mode].eventsPerSecond)} | **${ratio}** | ${g[mode].p50Ms} / ${g[mode].p99Ms} | ${p[mode].p50Ms} / ${p[mode].p99Ms} |`;
  const headline = `| \`commitlog_group_vs_periodic\` | ${cl.groupVsPeriodic} | the same unlogged batches with \`commitlog_sync: periodic\` (10 s) on a private node, same run: ${n(p.batch.eventsPerSecond)} events/s (one row per request: ${cl.groupVsPeriodicRow}) | | |\n`;
  const section = `## Commit log: \`group\` against \`periodic\` (issue 11 §1)

The local Cassandra runs \`commitlog_sync: group\` with a 2 ms window: a write is acknowledged only once the fsync of
the commit log holding it is done, so a \`kill -9\` of the single node (RF 1) loses no acknowledged write (invariant 2).
With \`periodic\` (10 s, Cassandra's default) a \`kill -9\` while devices posted lost 180 of 163,060 acknowledged events,
which ingest had already counted as written and committed (issue 11 §1). This measures what the default costs: a
private node (\`scripts/infra.sh\` on its own state directory and port ${cl.parameters.ports.cassandra}) is started with each
setting in turn (\`INFRA_CASSANDRA_COMMITLOG_SYNC\`), ${cl.parameters.rounds} round(s) in ABBA order, warmed up after each start,
flushed and settled before each run; the live table's own statement and write options, ${cl.parameters.concurrency} requests in
flight: ${n(cl.parameters.batchEvents)} events as unlogged batches of ≤ ${cl.parameters.rowsPerBatch} rows per profile (ingest's shape), then
${n(cl.parameters.rowEvents)} one row per request. Medians of the rounds; latency per request in ms.

| requests | group events/s | periodic events/s | group / periodic | group p50 / p99 | periodic p50 / p99 |
|---|---|---|---|---|---|
${row(`unlogged batch of ≤ ${cl.parameters.rowsPerBatch} rows`, 'batch', cl.groupVsPeriodic)}
${row('one row', 'row', cl.groupVsPeriodicRow)}

`;
  return { headline, section };
}
