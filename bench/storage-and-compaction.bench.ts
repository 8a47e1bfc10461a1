import { performance } from 'node:perf_hooks';
import { syntheticHistory } from '../test/support/event-log';
import { BenchContext, flush, round, tableBytesOnDisk } from './bench-context';

/**
 * The same history stored live (one row per event) and compressed (after compaction): bytes on disk
 * after a flush; and how fast compaction rolls profiles up.
 */
export async function storageAndCompaction(ctx: BenchContext, params = { profiles: 200, sessionsPerProfile: 50 }) {
  const events = syntheticHistory(params.profiles, params.sessionsPerProfile, Date.now() - 60 * 86_400_000);
  const profileIds = [...new Set(events.map((e) => e.profileId))];
  for (let i = 0; i < events.length; i += 2_000) {
    const failed = await ctx.live.append(events.slice(i, i + 2_000));
    if (failed.length) throw new Error(`write failed: ${(failed[0].error as Error).message}`);
  }
  const ks = ctx.config.cassandra.keyspace;
  const flushed = flush(ks);
  const liveBytes = tableBytesOnDisk(ks, 'live_history');

  const started = performance.now();
  let records = 0;
  let rawBytes = 0;
  let storedBytes = 0;
  for (const profileId of profileIds) {
    const outcome = await ctx.compactor.compact(profileId);
    if (outcome.status !== 'compacted') throw new Error(`${profileId}: ${outcome.status}`);
    records += outcome.records;
    rawBytes += outcome.rawBytes;
    storedBytes += outcome.storedBytes;
  }
  const seconds = (performance.now() - started) / 1000;
  flush(ks);
  const compressedBytes = ['compressed_history', 'compressed_history_chunks', 'compressed_history_chunk_sets']
    .map((t) => tableBytesOnDisk(ks, t))
    .reduce<number | null>((sum, b) => (sum === null || b === null ? null : sum + b), 0);

  const storage = {
    name: 'storage',
    method: flushed && liveBytes !== null && compressedBytes !== null ? 'on-disk SSTable bytes after nodetool flush' : 'unavailable',
    parameters: { ...params, events: events.length, records },
    liveBytes,
    compressedBytes,
    storedChunkBytes: storedBytes,
    encodedBytesBeforeZstd: rawBytes,
    bytesPerRecord: { live: liveBytes === null ? null : round(liveBytes / records), compressed: compressedBytes === null ? null : round(compressedBytes / records) },
    reduction: liveBytes && compressedBytes ? round(liveBytes / compressedBytes) : null,
    zstdRatio: round(rawBytes / storedBytes),
    target: 10,
  };
  const compaction = {
    name: 'compaction',
    parameters: { profiles: profileIds.length, records, events: events.length, concurrency: 1 },
    seconds: round(seconds),
    profilesPerSecond: round(profileIds.length / seconds),
    recordsPerSecond: round(records / seconds),
    eventsRolledUpPerSecond: round(events.length / seconds),
  };
  return { storage, compaction };
}
