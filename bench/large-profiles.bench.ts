import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { chunkDictionaryId, describeVersion, encodeVersion, ProfileCompactor } from '@vh/compaction';
import { loadConfig } from '@vh/config';
import { compactHistory, EMPTY_COMPRESSED_HISTORY, PlaybackEvent } from '@vh/domain';
import { mintAccessToken } from '@vh/http';
import { AppProcess } from '../test/support/app-process';
import { syntheticHistory } from '../test/support/event-log';
import { freePort } from '../test/support/free-port';
import { appendEvents, BenchContext, compactFully, keyspacesOf, round, settle, summarise } from './bench-context';
import { asAccepted } from './production-events';

export interface LargeProfileParams {
  /** Records per profile, rising. */
  sizes: number[];
  /** Old sessions written live at the end and compacted by the compactor onto the rest of the history. */
  recordsPerCompaction: number;
  /** Sessions left live on top of the compressed history (recent, not yet old enough to compact). */
  liveSessions: number;
  firstPageSamples: number;
  /** Page size of the full walk (the API's maximum). */
  walkPage: number;
  /** A full walk slower than this stops and is projected from the pages it read (said so in the result). */
  walkBudgetMs: number;
}

const SESSION_MS = 1_800_000;
const DAY_MS = 86_400_000;

/**
 * Issue 12 §3: one profile of 1k to 200k records (compressed history from several compactions plus live
 * rows), read over HTTP from the API as a process: first-page latency, full-walk latency (paging with the
 * cursor to the end) and the API's resident memory (VmRSS / VmHWM from /proc) while serving each size.
 * Sizes are served in rising order by one API process, its peak reset between sizes (clear_refs).
 */
export async function largeProfiles(ctx: BenchContext, params: LargeProfileParams) {
  const now = Date.now();
  const profiles: { size: number; profileId: string; compaction: CompactionFigures }[] = [];
  for (const size of params.sizes) {
    const profileId = `large-${size}-${now}`;
    const compaction = await buildProfile(ctx, profileId, size, params, now);
    profiles.push({ size, profileId, compaction });
    process.stderr.write(`[bench] large profile of ${size} records built (${JSON.stringify(compaction)})\n`);
  }
  await settle(ctx.config.cassandra.keyspace);

  // The same profiles read twice, each time by a fresh API process: with the chunk index (a page decodes
  // the chunks it needs), then with the index removed from each version's metadata, as versions written
  // before it are read (the whole history decoded and folded for every page): the baseline, same run.
  const paged = await serve(ctx, profiles, params, now);
  for (const { profileId } of profiles) {
    await ctx.client.execute(
      `UPDATE ${ctx.config.cassandra.keyspace}.compressed_history SET chunk_index = null WHERE profile_id = ?`,
      [profileId],
      { prepare: true },
    );
  }
  const whole = await serve(ctx, profiles, params, now);
  const results = paged.results.map((p, i) => ({ ...p, whole: whole.results[i] }));
  const at = (records: number) => results.find((r) => r.records === records);
  const largest = results.at(-1)!;
  const tenK = at(10_000);
  return {
    name: 'largeProfiles',
    parameters: params,
    apiStartRssMb: paged.startRssMb,
    results,
    firstPageLargestVs10k: tenK ? round(largest.firstPage.avgMs / tenK.firstPage.avgMs) : null,
    largestRssGrowthMb: largest.apiRss.growthWhileServingMb,
    largestRssGrowthOverStartMb: largest.apiRss.growthOverStartMb,
    whole: {
      apiStartRssMb: whole.startRssMb,
      firstPageLargestVs10k: tenK ? round(largest.whole.firstPage.avgMs / tenK.whole.firstPage.avgMs) : null,
      largestRssGrowthMb: largest.whole.apiRss.growthWhileServingMb,
    },
    target: { rssGrowthMb: 200, firstPageLargestVs10k: 'a small factor' },
  };
}

/** One API process serving every profile in rising size: first page, full walk and memory per size. */
async function serve(
  ctx: BenchContext,
  profiles: { size: number; profileId: string; compaction: CompactionFigures }[],
  params: LargeProfileParams,
  now: number,
) {
  const api = await AppProcess.start('api', {
    ...keyspacesOf(ctx),
    API_PORT: String(await freePort()),
    COMPACTION_QUEUE: `bench-large-${now}`,
    // Sequential reads measure latency, not overload: a shared, loaded machine made the event-loop bound
    // shed a request of the walk (503) and end the run.
    HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
    LOG_LEVEL: 'warn',
  });
  try {
    const token = await mintAccessToken(ctx.config, { kind: 'recommender', ttlSeconds: 7200 });
    const page = async (profileId: string, limit: number, cursor?: string) => {
      const query = `limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await fetch(`${api.url}/v1/profiles/${profileId}/history?${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (response.status !== 200) throw new Error(`${profileId}: ${response.status} ${await response.text()}`);
      return (await response.json()) as { records: unknown[]; nextCursor: string | null };
    };
    // Warm the process (modules, prepared statements, JIT) on the smallest profile before the baseline.
    for (let i = 0; i < 20; i++) await page(profiles[0].profileId, 50);
    const startRss = memoryOf(api.pid!).rssBytes;
    const results: any[] = [];
    for (const { size, profileId, compaction } of profiles) {
      const expected = size + params.liveSessions;
      const before = memoryOf(api.pid!).rssBytes;
      resetPeak(api.pid!);
      const firstPage: number[] = [];
      for (let i = 0; i < params.firstPageSamples + 2; i++) {
        const t = performance.now();
        const answer = await page(profileId, 50);
        if (i >= 2) firstPage.push(performance.now() - t);
        if (answer.records.length !== 50) throw new Error(`${profileId}: first page of ${answer.records.length}`);
      }
      const walkStarted = performance.now();
      let seen = 0;
      let pages = 0;
      let cursor: string | undefined;
      let truncated = false;
      do {
        const answer = await page(profileId, params.walkPage, cursor);
        seen += answer.records.length;
        pages++;
        cursor = answer.nextCursor ?? undefined;
        if (cursor && performance.now() - walkStarted > params.walkBudgetMs) truncated = true;
      } while (cursor && !truncated);
      const walkMs = performance.now() - walkStarted;
      if (!truncated && seen !== expected) throw new Error(`${profileId}: walked ${seen} of ${expected} records`);
      const totalPages = Math.ceil(expected / params.walkPage);
      const memory = memoryOf(api.pid!);
      results.push({
        records: size,
        liveSessions: params.liveSessions,
        compaction,
        firstPage: summarise(firstPage),
        fullWalk: {
          pageSize: params.walkPage,
          pages: totalPages,
          pagesRead: pages,
          truncated,
          ms: round(truncated ? (walkMs / pages) * totalPages : walkMs),
          msPerPage: round(walkMs / pages),
        },
        apiRss: {
          beforeMb: mb(before),
          peakMb: mb(memory.peakBytes),
          afterMb: mb(memory.rssBytes),
          growthOverStartMb: mb(memory.peakBytes - startRss),
          // Issue 12 §3's bound: what serving this profile adds (the peak is reset per size).
          growthWhileServingMb: mb(memory.peakBytes - before),
        },
      });
      process.stderr.write(`[bench] large profile ${size}: ${JSON.stringify(results.at(-1))}\n`);
    }
    return { startRssMb: mb(startRss), results };
  } finally {
    await api.stop();
  }
}

interface CompactionFigures {
  compactions: number;
  /** The last compaction: it reads and rewrites the whole history. */
  lastSeconds: number;
  chunks: number;
  storedBytes: number;
}

/**
 * All but the last `recordsPerCompaction` old sessions are folded and written as version 1 directly (what
 * earlier compactions would have left, without writing and deleting their live rows: the shared machine
 * could not afford it); the last ones are written live and compacted by the real compactor, which reads and
 * rewrites the whole history. Then a few recent sessions stay live.
 */
async function buildProfile(
  ctx: BenchContext,
  profileId: string,
  size: number,
  params: LargeProfileParams,
  now: number,
): Promise<CompactionFigures> {
  // Margin 0, as the test suites run: with the default (10 minutes) every row written just now is deleted
  // by a tombstone of its own, and the next compaction of a large partition fails on Cassandra's
  // tombstone limit (seen: readFailure). A profile's rows arrive over years in production.
  const config = loadConfig({
    ...process.env,
    ...keyspacesOf(ctx),
    COMPACTION_DELETE_MARGIN_MS: '0',
  });
  const compactor = new ProfileCompactor(ctx.live, ctx.compressed, config);
  const start = now - params.liveSessions * SESSION_MS - 30 * DAY_MS - size * SESSION_MS;
  const direct = Math.max(0, size - params.recordsPerCompaction);
  if (direct > 0) {
    const next = compactHistory(
      EMPTY_COMPRESSED_HISTORY,
      sessionsOf(profileId, direct, start),
      now - config.compaction.minAgeMs,
    );
    const { chunkMaxBytes, zstdLevel, zstdDictionary } = config.compaction;
    const dictionaryId = chunkDictionaryId(zstdDictionary);
    const encoded = await encodeVersion(next, { chunkMaxBytes, zstdLevel, dictionaryId });
    const written = await ctx.compressed.writeChunkSet(profileId, encoded.stored, 1);
    const version = describeVersion(profileId, 1, written, encoded, next, dictionaryId, now);
    if (!(await ctx.compressed.switchVersion(null, version))) throw new Error(`${profileId}: version 1 not switched`);
  }
  const rest = size - direct;
  for (let written = 0; written < rest; written += 5_000) {
    const part = Math.min(5_000, rest - written);
    await appendEvents(ctx, sessionsOf(profileId, part, start + (direct + written) * SESSION_MS));
  }
  const t = performance.now();
  const outcome = await compactFully({ ...ctx, compactor }, profileId);
  if (outcome.status !== 'compacted') throw new Error(`${profileId}: compaction ${outcome.status}`);
  if (outcome.records !== size) throw new Error(`${profileId}: compacted ${outcome.records} of ${size} records`);
  const figures = {
    compactions: direct > 0 ? 2 : 1,
    lastSeconds: round((performance.now() - t) / 1000),
    chunks: outcome.chunks,
    storedBytes: outcome.storedBytes,
  };
  await appendEvents(ctx, sessionsOf(profileId, params.liveSessions, now - params.liveSessions * SESSION_MS - DAY_MS));
  return figures;
}

/** Sessions of one profile, as production writes them (accepted shortly after they occur). */
function sessionsOf(profileId: string, sessions: number, startedAt: number): PlaybackEvent[] {
  return asAccepted(syntheticHistory(1, sessions, startedAt).map((e) => ({ ...e, profileId })));
}

/** Resident and peak resident bytes of a process (Linux /proc). */
function memoryOf(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), peakBytes: kb('VmHWM') };
}

/** Resets VmHWM to the current RSS (Linux 4.0+, own processes), so each size's peak is its own. */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted here: the peak then spans the sizes served so far (they rise, so it is still the largest's).
  }
}

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

/** The headline rows and the section of BENCHMARKS.md for this scenario (empty when it did not run). */
export function renderLargeProfiles(lp: any | undefined): { headline: string; section: string } {
  if (!lp) return { headline: '', section: '' };
  const n = (v: number) => v.toLocaleString('en');
  const walk = (w: any) =>
    `${n(w.ms)}${w.truncated ? ` (projected from ${n(w.pagesRead)} of ${n(w.pages)} pages)` : ''} | ${w.msPerPage}`;
  const row = (x: any, label: string, m: any) =>
    `| ${n(x.records)} | ${label} | ${m.firstPage.avgMs} / ${m.firstPage.p50Ms} / ${m.firstPage.p99Ms} | ${walk(m.fullWalk)} | ${m.apiRss.beforeMb} / ${m.apiRss.peakMb} | **${m.apiRss.growthWhileServingMb ?? '-'}** / ${m.apiRss.growthOverStartMb} |`;
  const rows = lp.results
    .map((x: any) =>
      [row(x, 'paged (chunk index)', x), ...(x.whole ? [row(x, 'whole (no index)', x.whole)] : [])].join('\n'),
    )
    .join('\n');
  const builds = lp.results
    .map((x: any) => `${n(x.records)}: ${x.compaction.lastSeconds} s, ${x.compaction.chunks} chunks`)
    .join('; ');
  const headline =
    `| \`first_page_200k_vs_10k\` | ${lp.firstPageLargestVs10k}x | first page of the 10,000-record profile, same run (read whole: ${lp.whole?.firstPageLargestVs10k ?? 'n/a'}x) | a small factor | |\n` +
    `| \`api_rss_growth_200k_mb\` | ${lp.largestRssGrowthMb} MB | while serving it: peak over the API's RSS before it (${lp.largestRssGrowthOverStartMb ?? 'n/a'} MB over its start at ${lp.apiStartRssMb} MB, after all sizes; read whole: ${lp.whole?.largestRssGrowthMb ?? 'n/a'} MB) | < 200 MB | ${lp.largestRssGrowthMb < 200 ? 'met' : 'missed'} |\n`;
  const section = `## Large profiles: one profile of 1k to 200k records (issue 12 §3)

Each profile: all but the last ${n(lp.parameters.recordsPerCompaction)} old sessions written as a compressed version directly (as
earlier compactions would leave it), the last ones written live and compacted by the compactor (which reads and
rewrites the whole history: this is the compaction of a profile of that size), then ${lp.parameters.liveSessions} recent
sessions stay live on top.
Last compaction per profile: ${builds}. The API runs as a process and serves the sizes in rising order over HTTP,
sequentially: first page (50 records) and a full walk with the cursor (pages of ${lp.parameters.walkPage}). Memory is the
API's VmRSS / VmHWM (peak reset per size); growth is the peak over its RSS before that size (what serving the
profile adds, the bound of issue 12 §3) / over its RSS after warm-up (everything served so far, caches included). Baseline in the same run:
the same profiles with the chunk index removed from each version's metadata, read by a fresh API process as
versions written before the index are (the whole history decoded and folded for every page). Times in ms
(avg / p50 / p99).

| records | read | first page | full walk ms | ms per walk page | API RSS before / peak (MB) | peak growth while serving / over start (MB) |
|---|---|---|---|---|---|---|
${rows}

First page of the largest against the 10,000-record one: **${lp.firstPageLargestVs10k}x** paged, ${lp.whole?.firstPageLargestVs10k ?? 'n/a'}x read whole.

`;
  return { headline, section };
}
