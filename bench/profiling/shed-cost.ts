import autocannon from 'autocannon';
import { mintAccessToken } from '@vh/http';
import { createKafka, deleteTopics } from '@vh/messaging';
import { AppProcess } from '../../test/support/app-process';
import { freePort } from '../../test/support/free-port';
import { uniqueProfileId } from '../../test/support/playback-events';
import { createBenchContext, cpuSeconds, keyspacesOf, round } from '../bench-context';
import { collectorBatch } from '../http.bench';
import { ensureTopics } from '../ingest.bench';

/**
 * What a refusal costs (issue 14, the overload): each app with an in-flight bound of 1 (fixed; no event loop
 * rule), so that nearly every request of a closed loop is shed with 503, and the app's CPU per answer. A refusal
 * that costs nearly what a served request does cannot keep an overloaded process reading at the arrival rate.
 * Not a benchmark of record. `SHED_COST_SECONDS` (8), `SHED_COST_CONNECTIONS` (32); `SHED_COST_BASELINE` (another
 * checkout, built) runs its apps too, alternated A-B-B-A.
 */
async function main(): Promise<void> {
  const seconds = Number(process.env.SHED_COST_SECONDS ?? 8);
  const connections = Number(process.env.SHED_COST_CONNECTIONS ?? 32);
  const ctx = await createBenchContext();
  const topic = `bench-${Date.now()}-shed-cost`;
  const kafkaConfig = { ...ctx.config.kafka, eventTopic: topic };
  const kafka = createKafka(kafkaConfig, 'bench');
  const apps: AppProcess[] = [];
  try {
    await ensureTopics(kafka, kafkaConfig);
    const profiles = Array.from({ length: 20 }, () => uniqueProfileId('writer'));
    const deviceToken = await mintAccessToken(ctx.config, { kind: 'device', profiles, ttlSeconds: 3600 });
    const readToken = await mintAccessToken(ctx.config, { kind: 'recommender', ttlSeconds: 3600 });
    const env = {
      ...keyspacesOf(ctx),
      EVENT_TOPIC: topic,
      LOG_LEVEL: 'warn',
      HTTP_MAX_IN_FLIGHT: '1',
      HTTP_IN_FLIGHT_LIMIT: 'fixed',
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
    };
    const start = async (name: 'api' | 'collector', checkout?: string) => {
      const port = `${name.toUpperCase()}_PORT`;
      const app = await AppProcess.start(name, { ...env, [port]: String(await freePort()) }, port, {
        ...(checkout === undefined ? {} : { checkout }),
      });
      apps.push(app);
      return app;
    };
    const body = JSON.stringify({ events: collectorBatch(profiles, 100) });
    const load = async (name: string, app: AppProcess) => {
      const read = name.startsWith('api');
      const before = cpuSeconds(app.pid);
      const result = await autocannon({
        url: read ? `${app.url}/v1/profiles/${profiles[0]}/history?limit=20` : `${app.url}/v1/events`,
        connections,
        duration: seconds,
        ...(read
          ? { headers: { authorization: `Bearer ${readToken}` } }
          : {
              method: 'POST',
              body,
              headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
            }),
      });
      const cpu = (cpuSeconds(app.pid) ?? NaN) - (before ?? NaN);
      const answers = result['2xx'] + result.non2xx;
      return {
        name,
        answersPerSecond: round(answers / seconds),
        shedShare: round(result.non2xx / Math.max(1, answers), 3),
        cpuMicrosPerAnswer: round((cpu * 1e6) / Math.max(1, answers), 1),
      };
    };
    const baseline = process.env.SHED_COST_BASELINE;
    for (const name of ['api', 'collector'] as const) {
      const ours = await start(name);
      const theirs = baseline === undefined ? null : await start(name, baseline);
      await load(`${name} warm-up`, ours);
      if (theirs) await load(`${name} baseline warm-up`, theirs);
      const order = theirs ? [ours, theirs, theirs, ours] : [ours, ours];
      for (const app of order)
        process.stdout.write(`${JSON.stringify(await load(app === ours ? name : `${name} baseline`, app))}\n`);
      await ours.stop();
      await theirs?.stop();
    }
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    await deleteTopics(kafka, [topic]).catch(() => undefined);
    await ctx.dispose();
  }
}

void main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
