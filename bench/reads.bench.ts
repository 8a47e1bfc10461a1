import { performance } from 'node:perf_hooks';
import { syntheticHistory } from '../test/support/event-log';
import { appendEvents, BenchContext, compactFully, readHistory, round, settle, summarise } from './bench-context';

const PAGE = 50;

/**
 * The history read (as the API does it: live rows, then the compressed version from the cache, fold,
 * page) for one profile kept all live (the naive one-table design) against the same history compacted.
 */
export async function reads(ctx: BenchContext, params = { sizes: [100, 1_000, 10_000], budgetMs: 20_000 }) {
  const results = [];
  for (const size of params.sizes) {
    const events = syntheticHistory(1, size, Date.now() - (size / 48 + 30) * 86_400_000);
    const naive = `naive-${size}-${Date.now()}`;
    const compacted = `compacted-${size}-${Date.now()}`;
    for (const profileId of [naive, compacted]) {
      await appendEvents(
        ctx,
        events.map((e) => ({ ...e, profileId })),
      );
    }
    const outcome = await compactFully(ctx, compacted);
    if (outcome.status !== 'compacted') throw new Error(outcome.status);
    await settle(ctx.config.cassandra.keyspace);

    const read = (profileId: string, walk: boolean) => readHistory(ctx, profileId, walk ? PAGE : undefined);
    const measure = async (profileId: string, walk: boolean) => {
      for (let i = 0; i < 3; i++) await read(profileId, walk); // warm-up: prepared statements, cache
      const samples: number[] = [];
      const deadline = performance.now() + params.budgetMs / 4;
      while (samples.length < 1_000 && (performance.now() < deadline || samples.length < 20)) {
        const t = performance.now();
        const seen = await read(profileId, walk);
        samples.push(performance.now() - t);
        if (seen !== (walk ? size : Math.min(PAGE, size))) throw new Error(`read ${seen} records of ${size}`);
      }
      return summarise(samples);
    };
    const firstPage = { naive: await measure(naive, false), compacted: await measure(compacted, false) };
    const fullWalk = { naive: await measure(naive, true), compacted: await measure(compacted, true) };
    results.push({
      records: size,
      events: events.length,
      firstPage,
      fullWalk,
      speedup: {
        firstPageAvg: round(firstPage.naive.avgMs / firstPage.compacted.avgMs),
        firstPageP99: round(firstPage.naive.p99Ms / firstPage.compacted.p99Ms),
        fullWalkAvg: round(fullWalk.naive.avgMs / fullWalk.compacted.avgMs),
        fullWalkP99: round(fullWalk.naive.p99Ms / fullWalk.compacted.p99Ms),
      },
    });
  }
  return {
    name: 'reads',
    parameters: { ...params, pageSize: PAGE, sequential: true },
    results,
    target: { avgSpeedupAt10k: 5 },
  };
}
