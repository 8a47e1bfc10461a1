import { mintAccessToken } from '@vh/http';
import { createKafka, deleteTopics } from '@vh/messaging';
import { AppProcess } from '../../test/support/app-process';
import { freePort } from '../../test/support/free-port';
import { uniqueProfileId } from '../../test/support/playback-events';
import { createBenchContext, keyspacesOf, profileFromHere, round } from '../bench-context';
import { COLLECTOR_CONNECTIONS, postBatches } from '../http.bench';
import { ensureTopics } from '../ingest.bench';
import { startBareServer } from '../raw-read';

/**
 * A short loop for cutting the collector's own cost (issue 14): the collector against the bare endpoint that seals
 * (bench/raw-collector-server.ts, BARE_SERVER_SEAL=1) and the least collector (BARE_SERVER_CONTRACT=1), the same
 * batches posted to each, warmed up, then A-B-C-C-B-A. Not a benchmark of record (BENCHMARKS.md comes from `npm run bench`); with
 * VH_APP_NODE_ARGS and VH_CPU_PROFILE_DIR (cpu-profile-preload.js) it profiles each server's measured passes
 * alone. `COLLECTOR_OVERHEAD_SECONDS` (8), `COLLECTOR_OVERHEAD_BATCH` (100), `COLLECTOR_OVERHEAD_ROUNDS` (1) size it;
 * `COLLECTOR_OVERHEAD_BASELINE` (another checkout, built) also sets this collector against that one's, and
 * `COLLECTOR_OVERHEAD_BARE=0` leaves the bare endpoints out.
 */
async function main(): Promise<void> {
  const seconds = Number(process.env.COLLECTOR_OVERHEAD_SECONDS ?? 8);
  const batch = Number(process.env.COLLECTOR_OVERHEAD_BATCH ?? 100);
  const ctx = await createBenchContext();
  const topic = `bench-${Date.now()}-collector-overhead`;
  const kafkaConfig = { ...ctx.config.kafka, eventTopic: topic };
  const kafka = createKafka(kafkaConfig, 'bench');
  const servers: { name: string; url: string; pid: number | undefined; stop: () => unknown }[] = [];
  try {
    await ensureTopics(kafka, kafkaConfig);
    const profiles = Array.from({ length: 20 }, () => uniqueProfileId('writer'));
    const token = await mintAccessToken(ctx.config, { kind: 'device', profiles, ttlSeconds: 3600 });
    const env = { ...keyspacesOf(ctx), EVENT_TOPIC: topic, LOG_LEVEL: 'warn' };
    const startCollector = async (name: string, checkout?: string) => {
      const port = String(await freePort());
      const app = await AppProcess.start('collector', { ...env, COLLECTOR_PORT: port }, 'COLLECTOR_PORT', {
        ...(checkout === undefined ? {} : { checkout }),
      });
      servers.push({ name, url: app.url, pid: app.pid, stop: () => app.stop() });
    };
    await startCollector('collector');
    // COLLECTOR_OVERHEAD_BARE=0 leaves the bare endpoints out: this collector against the baseline's only.
    if (process.env.COLLECTOR_OVERHEAD_BARE !== '0') {
      const bare = await startBareServer('raw-collector-server.js', { EVENT_TOPIC: topic, BARE_SERVER_SEAL: '1' });
      servers.push({ name: 'bareSealing', ...bare });
      const least = await startBareServer('raw-collector-server.js', { EVENT_TOPIC: topic, BARE_SERVER_CONTRACT: '1' });
      servers.push({ name: 'leastCollector', ...least });
    }
    const baseline = process.env.COLLECTOR_OVERHEAD_BASELINE;
    if (baseline !== undefined) await startCollector('baseline', baseline);
    const rounds = Number(process.env.COLLECTOR_OVERHEAD_ROUNDS ?? 1);

    const load = { token, profiles, batch };
    const tallies = new Map(servers.map((s) => [s.name, { events: 0, seconds: 0, cpu: 0, non2xx: 0 }]));
    for (const server of servers) await postBatches(server, load, COLLECTOR_CONNECTIONS, Math.min(5, seconds));
    for (const server of servers) profileFromHere(server.pid);
    // A-B-C-C-B-A (a fourth with a baseline): a burst of the shared machine's load falls on each alike.
    const order = Array.from({ length: rounds }, () => [...servers, ...[...servers].reverse()]).flat();
    for (const server of order) {
      const { result, cpu } = await postBatches(server, load, COLLECTOR_CONNECTIONS, seconds);
      const tally = tallies.get(server.name)!;
      tally.events += result['2xx'] * batch;
      tally.seconds += result.duration;
      tally.cpu += cpu.collector ?? NaN; // unreadable CPU shows as null, never as 0 µs an event
      tally.non2xx += result.non2xx;
    }
    const summary = Object.fromEntries(
      [...tallies].map(([name, t]) => [
        name,
        {
          eventsPerSecond: round(t.events / t.seconds),
          cpuMicrosPerEvent: Number.isNaN(t.cpu) ? null : round((t.cpu * 1e6) / t.events, 1),
          non2xx: t.non2xx,
        },
      ]),
    );
    const rate = (name: string) => summary[name]?.eventsPerSecond ?? NaN;
    process.stdout.write(
      `${JSON.stringify({
        batch,
        seconds,
        rounds,
        ...summary,
        collectorVsBareSealing: round(rate('collector') / rate('bareSealing')),
        collectorVsLeastCollector: round(rate('collector') / rate('leastCollector')),
        ...(baseline === undefined ? {} : { collectorVsBaseline: round(rate('collector') / rate('baseline')) }),
      })}\n`,
    );
  } finally {
    for (const server of servers) await server.stop();
    await deleteTopics(kafka, [topic]).catch(() => undefined);
    await ctx.dispose();
  }
}

void main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
