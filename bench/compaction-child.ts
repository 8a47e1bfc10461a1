import { performance } from 'node:perf_hooks';
import { createBenchContext } from './bench-context';

/**
 * Compacts the profiles it is sent, in a process of its own: in production compaction runs in the
 * compactor's sandboxed processors, never on the event loop that serves reads.
 */
process.once('message', async ({ keyspace, profileIds }: { keyspace: string; profileIds: string[] }) => {
  // Margin 0: the benchmark writes each profile's rows at once, so with the production margin (10 minutes) all
  // of them lie within the margin of its newest write and every profile takes the path of a backfill compacted
  // at once (its rows left, a removal job, a second version; planLiveRowDeletes). A profile written over days
  // takes it only when its last 10 minutes of writes hold more than 100 rows older than the cutoff. That
  // path's reads are measured in the reads step.
  const ctx = await createBenchContext(keyspace, { COMPACTION_DELETE_MARGIN_MS: '0' });
  try {
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
    process.send!({ ok: true, seconds: (performance.now() - started) / 1000, records, rawBytes, storedBytes });
  } catch (error) {
    process.send!({ ok: false, error: (error as Error).stack });
  } finally {
    await ctx.close();
  }
});
