import { performance } from 'node:perf_hooks';
import { compactFully, createBenchContext } from './bench-context';

/**
 * Compacts the profiles it is sent, in a process of its own: in production compaction runs in the
 * compactor's sandboxed processors, never on the event loop that serves reads.
 */
process.once('message', async ({ keyspace, profileIds }: { keyspace: string; profileIds: string[] }) => {
  const ctx = await createBenchContext(keyspace);
  try {
    const started = performance.now();
    let records = 0;
    let rawBytes = 0;
    let storedBytes = 0;
    for (const profileId of profileIds) {
      const outcome = await compactFully(ctx.compactor, profileId);
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
