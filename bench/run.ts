import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchContext, createBenchContext, machine, ROOT } from './bench-context';
import { commitlog } from './commitlog.bench';
import { erasureCost } from './erasure.bench';
import { Interrupted } from './interrupted';
import { http } from './http.bench';
import { ingest } from './ingest.bench';
import { largeProfiles } from './large-profiles.bench';
import { reads } from './reads.bench';
import { regions } from './regions.bench';
import { renderBenchmarks } from './render';
import { storageAndCompaction, storageFloor } from './storage-and-compaction.bench';
import { zstdDictionary } from './zstd-dictionary.bench';

/** Sizes: defaults finish within a few minutes here; --quick is a smoke run. */
const SIZES = {
  full: {
    storage: { profiles: 200, sessionsPerProfile: 50, readSeconds: 10 },
    // The same 10,000 records as small and as large histories (issue 14 §3).
    floor: [
      { profiles: 200, sessionsPerProfile: 50 },
      { profiles: 20, sessionsPerProfile: 500 },
    ],
    reads: { sizes: [100, 1_000, 10_000], budgetMs: 20_000 },
    ingest: { profiles: 2_000, sessionsPerProfile: 10, ceilingConcurrency: [32, 128, 512] },
    http: {
      seconds: 8,
      concurrency: [2, 4, 8, 16, 32, 64, 128],
      profiles: 200,
      sessionsPerProfile: 20,
      collectorBatch: 100,
      collectorRounds: 3,
    },
    dictionary: { profiles: 400, sessions: [5, 20, 100] },
    commitlog: { events: 20_000, eventsPerFetch: 1_000, sessionsPerProfile: 4, rounds: 3 },
    erasure: { events: 50_000, profiles: 5_000, rounds: 7 },
    regions: { writes: 200, sessions: 50 },
    large: {
      sizes: [1_000, 10_000, 100_000, 200_000],
      recordsPerCompaction: 2_000,
      liveSessions: 20,
      firstPageSamples: 30,
      walkPage: 200,
      walkBudgetMs: 120_000,
    },
  },
  quick: {
    storage: { profiles: 20, sessionsPerProfile: 20, readSeconds: 2 },
    floor: [
      { profiles: 20, sessionsPerProfile: 20 },
      { profiles: 2, sessionsPerProfile: 200 },
    ],
    reads: { sizes: [100, 1_000], budgetMs: 4_000 },
    ingest: { profiles: 200, sessionsPerProfile: 5, ceilingConcurrency: [64] },
    http: {
      seconds: 2,
      concurrency: [2, 8],
      profiles: 20,
      sessionsPerProfile: 5,
      collectorBatch: 50,
      collectorRounds: 1,
    },
    dictionary: { profiles: 40, sessions: [5] },
    commitlog: { events: 2_000, eventsPerFetch: 1_000, sessionsPerProfile: 4, rounds: 1 },
    erasure: { events: 5_000, profiles: 500, rounds: 3 },
    regions: { writes: 30, sessions: 10 },
    large: {
      sizes: [1_000, 10_000],
      recordsPerCompaction: 500,
      liveSessions: 5,
      firstPageSamples: 5,
      walkPage: 200,
      walkBudgetMs: 10_000,
    },
  },
};

/**
 * `npm run bench [--quick] [--only step,step]`: runs the benchmarks against the real local services,
 * writes bench/results/<name>.json and summary.json, and regenerates BENCHMARKS.md. Every figure is
 * set against a baseline measured in the same run. With --only (steps: storage, floor, dictionary, reads,
 * ingest, commitlog, erasure, regions, http, large) only those steps run and only their files are written.
 */
async function main(args: string[]): Promise<void> {
  if (args.includes('--render')) return renderFromFiles();
  const quick = args.includes('--quick');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]?.split(',')) : null;
  const wanted = (name: string) => only === null || only.has(name);
  const sizes = quick ? SIZES.quick : SIZES.full;
  const results: Record<string, any> = {};
  const ctx: BenchContext = await createBenchContext();
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    process.stderr.write(`[bench] ${name}\n`);
    const result = await run();
    process.stderr.write(`[bench] ${name} done in ${Math.round((Date.now() - started) / 1000)} s\n`);
    return result;
  };
  try {
    if (wanted('storage')) {
      const sc = await step('storage and compaction', () => storageAndCompaction(ctx, sizes.storage));
      results.storage = sc.storage;
      results.compaction = sc.compaction;
    }
    if (wanted('floor'))
      results.storageFloor = await step('storage against its floor', () => storageFloor(sizes.floor));
    if (wanted('dictionary'))
      results.dictionary = await step('zstd dictionary', () => zstdDictionary(ctx, sizes.dictionary));
    if (wanted('reads')) results.reads = await step('reads', () => reads(ctx, sizes.reads));
    if (wanted('large')) results.largeProfiles = await step('large profiles', () => largeProfiles(ctx, sizes.large));
    if (wanted('ingest')) results.ingest = await step('ingest', () => ingest(ctx, sizes.ingest));
    if (wanted('commitlog'))
      results.commitlog = await step('commitlog: group against periodic', () => commitlog(sizes.commitlog));
    if (wanted('erasure'))
      results.erasure = await step('erasure: what sealing costs an event', () => erasureCost(sizes.erasure));
    if (wanted('regions'))
      results.regions = await step('regions: cross-region replication lag', () => regions(sizes.regions));
    if (wanted('http')) {
      const h = await step('http: collector and mixed load', () => http(ctx, sizes.http));
      results.collector = h.collector;
      results.mixed = h.mixed;
    }
  } finally {
    await ctx.dispose();
  }
  const generatedAt = new Date().toISOString();
  const env = { machine: machine(), generatedAt, quick };
  const dir = join(ROOT, 'bench/results');
  for (const [name, result] of Object.entries(results))
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ ...result, ...env }, null, 2)}\n`);
  if (only) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const summary = summaryOf(results, env.machine.cores, generatedAt);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), renderBenchmarks(results, summary, env));
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

/** The headline figures, tracked over time in bench/results/summary.json. */
function summaryOf(results: Record<string, any>, cores: number, generatedAt: string) {
  const at10k = results.reads.results.find((r: any) => r.records === 10_000);
  return {
    ingest_vs_ceiling: results.ingest.ratio,
    ingest_replay_vs_ceiling: results.ingest.replay?.ratio ?? null,
    ingest_vs_raw_pipeline: results.ingest.vsRawPipeline ?? null,
    raw_pipeline_e2e_vs_ceiling: results.ingest.rawPipelineEndToEnd?.ratio ?? null,
    read_vs_raw: results.mixed.readsVsRaw?.ratio ?? null,
    mixed_vs_bare_reads: results.mixed.mixedVsBareReads?.ratio ?? null,
    collector_events_per_s: results.collector.eventsPerSecond,
    collector_vs_bare_http: results.collector.bareHttp?.collectorVsBareHttp ?? null,
    bare_http_vs_raw_producer: results.collector.bareHttp?.vsRawProducer ?? null,
    collector_vs_bare_sealing_http: results.collector.bareSealingHttp?.collectorVsBareSealingHttp ?? null,
    bare_sealing_http_vs_raw_producer: results.collector.bareSealingHttp?.vsRawProducer ?? null,
    collector_vs_least_collector_http: results.collector.leastCollectorHttp?.collectorVsLeastCollectorHttp ?? null,
    least_collector_http_vs_raw_producer: results.collector.leastCollectorHttp?.vsRawProducer ?? null,
    read_speedup_avg_10k: at10k?.speedup.firstPageAvg ?? null,
    read_speedup_p99_10k: at10k?.speedup.firstPageP99 ?? null,
    storage_reduction: results.storage.reduction,
    storage_reduction_500_per_profile:
      results.storageFloor?.shapes.find((x: any) => x.recordsPerProfile === 500)?.reduction ?? null,
    mixed_p99_ms: results.mixed.atSustainableWithBound.p99Ms,
    overload_p99_ratio: results.mixed.overloadP99Ratio,
    compaction_records_per_s: results.compaction.recordsPerSecond,
    first_page_200k_vs_10k: results.largeProfiles?.firstPageLargestVs10k ?? null,
    api_rss_growth_200k_mb: results.largeProfiles?.largestRssGrowthMb ?? null,
    commitlog_group_vs_periodic: results.commitlog?.groupVsPeriodic ?? null,
    sealing_collector_cpu_ratio: results.erasure?.ratios.collector ?? null,
    sealing_ingest_decode_cpu_ratio: results.erasure?.ratios.ingestDecode ?? null,
    cross_region_lag_p50_ms: results.regions?.cassandra.both.p50Ms ?? null,
    cross_region_lag_p99_ms: results.regions?.cassandra.both.p99Ms ?? null,
    cross_region_read_alone_p50_ms: results.regions?.cassandra.readAlone.p50Ms ?? null,
    cross_region_visible_p50_ms: results.regions?.endToEnd.otherRegion.p50Ms ?? null,
    cross_region_visible_p99_ms: results.regions?.endToEnd.otherRegion.p99Ms ?? null,
    own_region_visible_p50_ms: results.regions?.endToEnd.ownRegion.p50Ms ?? null,
    cores,
    generated_at: generatedAt,
  };
}

/** `npm run bench -- --render`: BENCHMARKS.md again from the last results (after editing ANALYSIS.md). */
function renderFromFiles(): void {
  const dir = join(ROOT, 'bench/results');
  const read = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  const names = ['storage', 'compaction', 'dictionary', 'reads', 'ingest', 'collector', 'mixed'];
  const results = Object.fromEntries(names.map((name) => [name, read(name)]));
  if (existsSync(join(dir, 'largeProfiles.json'))) results.largeProfiles = read('largeProfiles');
  if (existsSync(join(dir, 'commitlog.json'))) results.commitlog = read('commitlog');
  if (existsSync(join(dir, 'regions.json'))) results.regions = read('regions');
  if (existsSync(join(dir, 'erasure.json'))) results.erasure = read('erasure');
  if (existsSync(join(dir, 'storageFloor.json'))) results.storageFloor = read('storageFloor');
  // From the result files, newest first: after `--only`, the headline follows the steps rerun.
  const generatedAt = Object.values(results)
    .map((r: any) => r.generatedAt as string)
    .sort()
    .at(-1)!;
  const env = { machine: results.reads.machine, generatedAt, quick: Boolean(results.reads.quick) };
  const summary = summaryOf(results, env.machine.cores, generatedAt);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), renderBenchmarks(results, summary, env));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    // A signal during a step: its cleanup and ours (the finally above) are done; exit as the signal would.
    process.exit(error instanceof Interrupted ? error.exitCode : 1);
  },
);
