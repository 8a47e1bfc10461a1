import { fork } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { syntheticHistory } from '../test/support/event-log';
import { compactHistory, EMPTY_COMPRESSED_HISTORY, ViewingEvent } from '@vh/domain';
import { chunkDictionaryId, encodeVersion } from '@vh/compaction';
import { asAccepted } from './production-events';
import {
  appendEvents,
  BenchContext,
  createBenchContext,
  flush,
  readHistory,
  round,
  ROOT,
  summarise,
  tableBytesOnDisk,
  tableComponentsOnDisk,
} from './bench-context';

interface CompactionRun {
  seconds: number;
  records: number;
  rawBytes: number;
  storedBytes: number;
}

/**
 * The same history stored live (one row per event) and compressed (after compaction): bytes on disk
 * after a flush; how fast compaction rolls profiles up; and the read p99 while it runs against idle.
 * Compaction runs in a child process, as in the compactor's sandboxed processors.
 */
export async function storageAndCompaction(
  ctx: BenchContext,
  params = { profiles: 200, sessionsPerProfile: 50, readSeconds: 10 },
) {
  const events = asAccepted(syntheticHistory(params.profiles, params.sessionsPerProfile, Date.now() - 60 * 86_400_000));
  const profileIds = [...new Set(events.map((e) => e.profileId))];
  await appendEvents(ctx, events);
  const ks = ctx.config.cassandra.keyspace;
  const flushed = flush(ks);
  const liveOnDisk = tableComponentsOnDisk(ks, 'live_history');
  const liveBytes = tableBytesOnDisk(ks, 'live_history');

  // First half alone: compaction throughput. Second half while reads run on the first: read p99
  // during compaction against the same reads idle.
  const half = Math.ceil(profileIds.length / 2);
  const alone = await compactInChildProcess(ks, profileIds.slice(0, half));
  const readers = profileIds.slice(0, half);
  const idle = await readFor(ctx, readers, params.readSeconds * 1000);
  const during = compactInChildProcess(ks, profileIds.slice(half));
  let compacting = true;
  void during.finally(() => (compacting = false));
  const busy = await readFor(ctx, readers, params.readSeconds * 1000, () => compacting);
  const concurrent = await during;

  flush(ks);
  const compressedTables = ['compressed_history', 'compressed_history_chunks', 'compressed_history_chunk_sets'];
  const onDisk = {
    live_history: liveOnDisk,
    ...Object.fromEntries(compressedTables.map((t) => [t, tableComponentsOnDisk(ks, t)])),
  };
  const compressedBytes = compressedTables
    .map((t) => tableBytesOnDisk(ks, t))
    .reduce<number | null>((sum, b) => (sum === null || b === null ? null : sum + b), 0);
  const records = alone.records + concurrent.records;
  const rawBytes = alone.rawBytes + concurrent.rawBytes;
  const storedBytes = alone.storedBytes + concurrent.storedBytes;

  const storage = {
    name: 'storage',
    method:
      flushed && liveBytes !== null && compressedBytes !== null
        ? 'on-disk SSTable bytes after nodetool flush'
        : 'unavailable',
    parameters: {
      profiles: params.profiles,
      sessionsPerProfile: params.sessionsPerProfile,
      events: events.length,
      records,
    },
    liveBytes,
    compressedBytes,
    // By table and SSTable component: the per-file overhead weighs on small tables (issue 14 §3).
    onDisk,
    storedChunkBytes: storedBytes,
    encodedBytesBeforeZstd: rawBytes,
    bytesPerRecord: {
      live: liveBytes === null ? null : round(liveBytes / records),
      compressed: compressedBytes === null ? null : round(compressedBytes / records),
    },
    reduction: liveBytes && compressedBytes ? round(liveBytes / compressedBytes) : null,
    zstdRatio: round(rawBytes / storedBytes),
    target: 10,
    settling: await settledAgainstTrails(ctx, events, records),
  };
  const compaction = {
    name: 'compaction',
    parameters: { profiles: half, records: alone.records, concurrency: 1, readers: readers.length },
    seconds: round(alone.seconds),
    profilesPerSecond: round(half / alone.seconds),
    recordsPerSecond: round(alone.records / alone.seconds),
    whileReading: {
      profiles: profileIds.length - half,
      seconds: round(concurrent.seconds),
      recordsPerSecond: round(concurrent.records / concurrent.seconds),
    },
    readsIdle: idle,
    readsDuringCompaction: busy,
    readP99Ratio: round(busy.p99Ms / idle.p99Ms),
  };
  return { storage, compaction };
}

/**
 * The history above is 60 days old, so compaction settled its records (COMPACTION_TRAIL_RETENTION_DAYS,
 * 30 by default): the on-disk figure is that of history past the trail window, most of a member's history.
 * History within the window keeps its trails: the same profiles encoded in process both ways (zstd chunk
 * bytes, the settings compaction uses) give its cost.
 */
async function settledAgainstTrails(ctx: BenchContext, events: ViewingEvent[], records: number) {
  const { chunkMaxBytes, zstdLevel, zstdDictionary, trailRetentionMs } = ctx.config.compaction;
  const settings = { chunkMaxBytes, zstdLevel, dictionaryId: chunkDictionaryId(zstdDictionary) };
  const byProfile = new Map<string, ViewingEvent[]>();
  for (const e of events) byProfile.set(e.profileId, [...(byProfile.get(e.profileId) ?? []), e]);
  const now = Date.now();
  let settled = 0;
  let trailed = 0;
  for (const profileEvents of byProfile.values()) {
    const cutoff = now - ctx.config.compaction.minAgeMs;
    const encode = async (settleBefore?: number) =>
      (await encodeVersion(compactHistory(EMPTY_COMPRESSED_HISTORY, profileEvents, cutoff, { settleBefore }), settings))
        .storedBytes;
    settled += await encode(now - trailRetentionMs);
    trailed += await encode(undefined);
  }
  return {
    trailRetentionDays: round(trailRetentionMs / 86_400_000),
    chunkBytesPerRecord: { settled: round(settled / records), withTrails: round(trailed / records) },
    trailsOverSettled: round(trailed / settled),
  };
}

/** First-page reads of random profiles, one at a time, for `ms` (and, if given, while `go()` holds). */
async function readFor(ctx: BenchContext, profileIds: string[], ms: number, go: () => boolean = () => true) {
  const samples: number[] = [];
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && go()) {
    const profileId = profileIds[Math.floor(Math.random() * profileIds.length)];
    const t = performance.now();
    await readHistory(ctx, profileId);
    samples.push(performance.now() - t);
  }
  return summarise(samples);
}

function compactInChildProcess(keyspace: string, profileIds: string[]): Promise<CompactionRun> {
  const child = fork(join(__dirname, 'compaction-child.js'), [], {
    execArgv: ['-r', join(ROOT, 'scripts/register-paths.js')],
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message: { ok: boolean; error?: string } & CompactionRun) =>
      message.ok ? resolve(message) : reject(new Error(message.error)),
    );
    child.once('exit', (code) => reject(new Error(`compaction process exited with ${code}`)));
    child.send({ keyspace, profileIds });
  });
}

const COMPRESSED_TABLES = ['compressed_history', 'compressed_history_chunks', 'compressed_history_chunk_sets'];
/** SSTable components whose size does not grow with the rows (one set per SSTable written by a flush). */
const FIXED_COMPONENTS = new Set(['Statistics', 'TOC', 'Digest']);

function bytesByKind(ks: string, tables: string[]) {
  let rows = 0;
  let fixed = 0;
  for (const t of tables)
    for (const [component, bytes] of Object.entries(tableComponentsOnDisk(ks, t) ?? {}))
      if (FIXED_COMPONENTS.has(component)) fixed += bytes;
      else rows += bytes;
  return { rows, fixed };
}

/**
 * Storage against its floor (issue 14 §3): the same number of records held as few large or many small
 * histories, each shape in a keyspace of its own (sizes on disk after a flush: live before compaction,
 * compressed after). The floor of a compressed record is its record id: 16 random bytes a device chose,
 * which no encoding shrinks. Per-profile bytes are the compressed tables' row bytes beyond the chunks' zstd
 * output (metadata, chunk-set rows, partition index entries); the fixed SSTable components (Statistics, TOC,
 * Digest: a few KB per table and flush whatever it holds) are reported apart, since a small data set pays
 * them in full and a production table does not.
 */
export async function storageFloor(
  shapes: { profiles: number; sessionsPerProfile: number }[],
): Promise<{ name: string; floorBytesPerRecord: number; shapes: unknown[] }> {
  const results: unknown[] = [];
  for (const shape of shapes) {
    const ctx = await createBenchContext();
    try {
      const ks = ctx.config.cassandra.keyspace;
      const events = asAccepted(
        syntheticHistory(shape.profiles, shape.sessionsPerProfile, Date.now() - 60 * 86_400_000),
      );
      await appendEvents(ctx, events);
      flush(ks);
      const live = bytesByKind(ks, ['live_history']);
      const run = await compactInChildProcess(ks, [...new Set(events.map((e) => e.profileId))]);
      flush(ks);
      const compressed = bytesByKind(ks, COMPRESSED_TABLES);
      const total = compressed.rows + compressed.fixed;
      results.push({
        recordsPerProfile: shape.sessionsPerProfile,
        profiles: shape.profiles,
        records: run.records,
        bytesPerRecord: {
          live: round((live.rows + live.fixed) / run.records),
          compressed: round(total / run.records),
          compressedRowsOnly: round(compressed.rows / run.records),
          chunks: round(run.storedBytes / run.records),
        },
        perProfileBytes: round((compressed.rows - run.storedBytes) / shape.profiles),
        fixedSstableBytes: compressed.fixed,
        reduction: round((live.rows + live.fixed) / total),
        reductionRowsOnly: round(live.rows / compressed.rows),
        overFloor: round(total / run.records / 16),
      });
    } finally {
      await ctx.dispose();
    }
  }
  return { name: 'storageFloor', floorBytesPerRecord: 16, shapes: results };
}
