import { ViewingEvent } from '@vh/domain';
import { mintAccessToken } from '@vh/http';
import { AppProcess } from '../../test/support/app-process';
import { syntheticHistory } from '../../test/support/event-log';
import { freePort } from '../../test/support/free-port';
import { appendEvents, compactFully, createBenchContext, keyspacesOf, settle } from '../bench-context';
import { alternatedReads, startRawReadServer } from '../raw-read';

/**
 * A short loop for cutting the read API's own cost (issue 14): seeds the http step's read side (compacted history
 * with live events on top), then reads only, the API against the bare read server, A-B-B-A, as `read_vs_raw`
 * does. Not a benchmark of record (BENCHMARKS.md comes from `npm run bench`); with VH_APP_NODE_ARGS and
 * VH_CPU_PROFILE_DIR (cpu-profile-preload.js) it profiles the API's reads alone.
 * `READ_OVERHEAD_PROFILES`, `READ_OVERHEAD_CONNECTIONS`, `READ_OVERHEAD_SECONDS` size it; `READ_OVERHEAD_BASELINE`
 * (another checkout, built) also sets this API against that one's, A-B-B-A on the same data.
 */
async function main(): Promise<void> {
  const profiles = Number(process.env.READ_OVERHEAD_PROFILES ?? 200);
  const connections = Number(process.env.READ_OVERHEAD_CONNECTIONS ?? 16);
  const seconds = Number(process.env.READ_OVERHEAD_SECONDS ?? 8);
  const ctx = await createBenchContext();
  const baseline = process.env.READ_OVERHEAD_BASELINE;
  let api: AppProcess | null = null;
  let other: AppProcess | null = null;
  let raw: Awaited<ReturnType<typeof startRawReadServer>> | null = null;
  try {
    const seeded = syntheticHistory(profiles, 20, Date.now() - 60 * 86_400_000) as ViewingEvent[];
    const profileIds = [...new Set(seeded.map((e) => e.profileId))];
    await appendEvents(ctx, seeded);
    for (const profileId of profileIds) await compactFully(ctx, profileId);
    const recent = syntheticHistory(profiles, 2, Date.now() - 86_400_000);
    const renamed = new Map([...new Set(recent.map((e) => e.profileId))].map((id, i) => [id, profileIds[i]]));
    await ctx.live.append(recent.map((e) => ({ ...e, profileId: renamed.get(e.profileId)! })) as ViewingEvent[]);
    await settle(ctx.config.cassandra.keyspace);
    const readToken = await mintAccessToken(ctx.config, { kind: 'recommender', ttlSeconds: 3600 });
    const port = String(await freePort());
    api = await AppProcess.start('api', { ...keyspacesOf(ctx), LOG_LEVEL: 'warn', API_PORT: port });
    raw = await startRawReadServer(ctx.config.cassandra.keyspace);
    const path = () => `/v1/profiles/${profileIds[Math.floor(Math.random() * profileIds.length)]}/history?limit=20`;
    const result = await alternatedReads(
      { url: api.url, pid: api.pid },
      raw,
      { readToken, path },
      connections,
      seconds,
    );
    process.stdout.write(`${JSON.stringify({ api: result.first, raw: result.second, ratio: result.ratio })}\n`);
    // READ_OVERHEAD_RAW_BASELINE: another checkout's bare read server (built, with dist-bench) against this one's.
    const rawBaseline = process.env.READ_OVERHEAD_RAW_BASELINE;
    if (rawBaseline !== undefined) {
      const otherRaw = await startRawReadServer(ctx.config.cassandra.keyspace, rawBaseline);
      try {
        const paired = await alternatedReads(raw, otherRaw, { readToken, path }, connections, seconds);
        process.stdout.write(
          `${JSON.stringify({ raw: paired.first, rawBaseline: paired.second, ratio: paired.ratio })}\n`,
        );
      } finally {
        otherRaw.stop();
      }
    }
    if (baseline !== undefined) {
      const port = String(await freePort());
      other = await AppProcess.start('api', { ...keyspacesOf(ctx), LOG_LEVEL: 'warn', API_PORT: port }, 'API_PORT', {
        checkout: baseline,
      });
      const paired = await alternatedReads(api, other, { readToken, path }, connections, seconds);
      process.stdout.write(`${JSON.stringify({ api: paired.first, baseline: paired.second, ratio: paired.ratio })}\n`);
    }
  } finally {
    raw?.stop();
    await api?.stop();
    await other?.stop();
    await ctx.dispose();
  }
}

void main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
