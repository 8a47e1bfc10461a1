import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'cassandra-driver';
import { AppConfig, loadConfig } from '@vh/config';
import { foldHistory, HistoryCursor, pageOfHistory, ViewingEvent, visibleRecords } from '@vh/domain';
import { CompactionOutcome, EventLogProfileEventsSource, ProfileCompactor } from '@vh/compaction';
import { migrateProfileKeys } from '@vh/erasure';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  dropKeyspace,
  LiveHistoryRepository,
  migrateSchema,
  ProfileActivityIndex,
} from '@vh/storage';

export const ROOT = join(__dirname, '..', '..');

/** Writes events to the live table through ingest's own `append`, 2,000 per call; any failed group fails the run. */
export async function appendEvents(ctx: BenchContext, events: readonly ViewingEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 2_000) {
    const failed = await ctx.live.append(events.slice(i, i + 2_000));
    if (failed.length) throw new Error(`write failed: ${(failed[0].error as Error).message}`);
  }
}

/**
 * A profile compacted as the service leaves it. A run that left rows written within the delete margin
 * (planLiveRowDeletes: the benchmarks write a profile's rows all at once, then compact it) is followed at once
 * by the job that removes them, which the compactor enqueues twice the margin later (nothing is written here
 * meanwhile, so the wait protects nothing), and the version that job supersedes is collected as the garbage job
 * does after its grace. Without them the reads would meet rows not yet removed, and the storage count two
 * versions. Returns the last run's outcome.
 */
export async function compactFully(
  ctx: Pick<BenchContext, 'compressed' | 'config'> & { compactor: ProfileCompactor },
  profileId: string,
): Promise<CompactionOutcome> {
  const outcome = await ctx.compactor.compact(profileId);
  if (outcome.liveRowsLeftThroughUs === null) return outcome;
  const removal = await ctx.compactor.compact(profileId, { liveRowsLeftThroughUs: outcome.liveRowsLeftThroughUs });
  if (removal.liveRowsLeftThroughUs !== null) throw new Error(`${profileId}: the removal left rows too`);
  await ctx.compressed.collectGarbage(profileId, Date.now() + ctx.config.compaction.chunkSetGraceMs + 1_000);
  return removal.status === 'compacted' ? removal : { ...outcome, liveRowsLeftThroughUs: null };
}

/** The apps' settings for the run's keyspaces (history and profile keys). */
export function keyspacesOf(ctx: BenchContext): Record<string, string> {
  return {
    CASSANDRA_KEYSPACE: ctx.config.cassandra.keyspace,
    PROFILE_KEYS_KEYSPACE: ctx.config.profileKeys.keyspace,
  };
}

/** The project's own modules against the real local Cassandra, in a keyspace of the run's own. */
export interface BenchContext {
  config: AppConfig;
  client: Client;
  live: LiveHistoryRepository;
  compressed: CompressedHistoryRepository;
  compactor: ProfileCompactor;
  /** Disconnects, leaving the keyspace (for a second process on the same data). */
  close(): Promise<void>;
  /** Drops the run's keyspace and disconnects. */
  dispose(): Promise<void>;
}

/**
 * A new keyspace of the run's own, or (given one) the same data from another process. `env` overrides the
 * configuration, e.g. CASSANDRA_CONTACT_POINTS of a private node.
 */
export async function createBenchContext(keyspace?: string, env: NodeJS.ProcessEnv = {}): Promise<BenchContext> {
  const historyKeyspace = keyspace ?? `bench_${Date.now()}`;
  const config = loadConfig({
    ...process.env,
    ...env,
    CASSANDRA_KEYSPACE: historyKeyspace,
    // The run's own profile keys too: the collector seals with them, and a fresh machine has no `migrate`d
    // default keyspace (every collector request of the HTTP step answered 503 there).
    PROFILE_KEYS_KEYSPACE: `${historyKeyspace}_keys`,
    LOG_LEVEL: 'warn',
  });
  const client = createCassandraClient(config.cassandra, 'bench');
  if (!keyspace) {
    await migrateSchema(client, config.cassandra);
    await migrateProfileKeys(client, config);
  }
  const live = new LiveHistoryRepository(client, config, new ProfileActivityIndex(client, config));
  const compressed = new CompressedHistoryRepository(client, config);
  return {
    config,
    client,
    live,
    compressed,
    compactor: new ProfileCompactor(live, compressed, config, new EventLogProfileEventsSource(config)),
    async close() {
      await client.shutdown();
    },
    async dispose() {
      await dropKeyspace(client, config.cassandra.keyspace);
      await dropKeyspace(client, config.profileKeys.keyspace);
      await client.shutdown();
    },
  };
}

/**
 * Flushes memtables so that on-disk sizes are real SSTables; false when nodetool cannot be reached.
 * `infraEnv`: scripts/infra.sh's environment (INFRA_CASSANDRA_JMX_PORT of a private node).
 */
export function flush(keyspace: string, infraEnv: NodeJS.ProcessEnv = process.env): boolean {
  return (
    spawnSync('bash', [join(ROOT, 'scripts/infra.sh'), 'nodetool', 'flush', keyspace], {
      encoding: 'utf8',
      env: infraEnv,
    }).status === 0
  );
}

/**
 * Flushes, then waits (bounded) until Cassandra has no compaction pending, so one measurement does not
 * pay for the background work the previous one left behind.
 */
export async function settle(
  keyspace: string,
  timeoutMs = 60_000,
  infraEnv: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  flush(keyspace, infraEnv);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const stats = spawnSync('bash', [join(ROOT, 'scripts/infra.sh'), 'nodetool', 'compactionstats'], {
      encoding: 'utf8',
      env: infraEnv,
    });
    if (stats.status !== 0 || /^pending tasks\s+0\s*$/m.test(stats.stdout)) return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Bytes on disk of one table's SSTables (local runner's data directory), or null if not found. */
export function tableBytesOnDisk(keyspace: string, table: string): number | null {
  const components = tableComponentsOnDisk(keyspace, table);
  return components === null ? null : Object.values(components).reduce((sum, b) => sum + b, 0);
}

/**
 * A table's on-disk bytes by SSTable component (Data, Index/Partitions, Filter, Statistics, ...): what is
 * the rows themselves and what is per-file overhead that a small data set pays in full.
 */
export function tableComponentsOnDisk(keyspace: string, table: string): Record<string, number> | null {
  const dir = join(ROOT, '.infra/cassandra/data', keyspace);
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((d) => d.startsWith(`${table}-`));
  } catch {
    return null;
  }
  const components: Record<string, number> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const stat = statSync(full);
      if (stat.isDirectory()) {
        if (name !== 'snapshots' && name !== 'backups') walk(full);
      } else {
        // nb-1-big-Data.db -> Data
        const component = name.replace(/^.*-([A-Za-z]+)\.[a-z0-9]+$/, '$1');
        components[component] = (components[component] ?? 0) + stat.size;
      }
    }
  };
  for (const entry of entries) walk(join(dir, entry));
  return components;
}

export function machine() {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    kafka: '3.9.1',
    cassandra: '5.0.5',
  };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)];
}

export function summarise(samplesMs: number[]) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const avg = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    samples: sorted.length,
    avgMs: round(avg),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    perSecond: round(1000 / avg),
  };
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * One profile's history read as the API reads it: live rows, then the compressed version (from the
 * cache), fold, pages of 50. Without `walkPage`, the first page only. Returns the records seen.
 */
export async function readHistory(ctx: BenchContext, profileId: string, walkPage?: number): Promise<number> {
  const live = await ctx.live.readProfile(profileId);
  const { history } = await ctx.compressed.read(profileId);
  const records = visibleRecords(foldHistory(live, history));
  let cursor: HistoryCursor | undefined;
  let seen = 0;
  do {
    const page = pageOfHistory(records, { limit: walkPage ?? 50, cursor });
    seen += page.records.length;
    cursor = walkPage ? (page.nextCursor ?? undefined) : undefined;
  } while (cursor);
  return seen;
}

/**
 * When the apps run under bench/profiling/cpu-profile-preload.js: the measured window opens here, so
 * their CPU profiles leave out start-up and warm-up. A no-op otherwise.
 */
export function profileFromHere(pid: number | undefined): void {
  if (pid !== undefined && (process.env.VH_APP_NODE_ARGS ?? '').includes('cpu-profile-preload'))
    process.kill(pid, 'SIGWINCH');
}

/** CPU seconds (user + system) a process has used so far, from /proc; null where it cannot be read. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The pid the local runner recorded for one of its services. */
export function servicePid(service: 'kafka' | 'cassandra'): number | undefined {
  try {
    return Number(readFileSync(join(ROOT, '.infra', service, 'pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Where the CPU went while `run` ran: seconds per process and their share of what the machine's
 * cores could give in that time. The profile behind every throughput ratio on this shared box.
 */
export async function cpuProfile<T>(
  processes: Record<string, number | undefined>,
  run: () => Promise<T>,
): Promise<{ result: T; wallSeconds: number; cpu: Record<string, number | null>; machineShare: number }> {
  const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const self = process.cpuUsage();
  const started = Date.now();
  const result = await run();
  const wallSeconds = (Date.now() - started) / 1000;
  const cpu: Record<string, number | null> = {};
  for (const [name, pid] of Object.entries(processes)) {
    const after = cpuSeconds(pid);
    cpu[name] = after === null || before[name] === null ? null : round(after - before[name]!);
  }
  const mine = process.cpuUsage(self);
  cpu.benchmark = round((mine.user + mine.system) / 1e6);
  const used = Object.values(cpu).reduce<number>((sum, v) => sum + (v ?? 0), 0);
  return { result, wallSeconds: round(wallSeconds), cpu, machineShare: round(used / (wallSeconds * cpus().length)) };
}
