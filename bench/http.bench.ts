import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { ViewingEvent, encodeViewingEvent } from '@vh/domain';
import { mintAccessToken } from '@vh/http';
import { createKafka, deleteTopics } from '@vh/messaging';
import { AppProcess } from '../test/support/app-process';
import { syntheticHistory } from '../test/support/event-log';
import { freePort } from '../test/support/free-port';
import { watchSession, WirePlaybackEvent } from '../test/support/playback-events';
import { alternatedReads, RawReadServer, readVsRaw, startBareServer, startRawReadServer } from './raw-read';
import { OpenLoopRequest, openLoop } from './open-loop';
import {
  BenchContext,
  compactFully,
  cpuProfile,
  profileFromHere,
  percentile,
  round,
  servicePid,
  settle,
  keyspacesOf,
  appendEvents,
} from './bench-context';
import { ensureTopics } from './ingest.bench';

export interface HttpParams {
  /** Seconds per load level. */
  seconds: number;
  /** Total connections of the 9:1 mixed load, rising. */
  concurrency: number[];
  /** Profiles read by the mixed load (compacted history plus live events on top). */
  profiles: number;
  sessionsPerProfile: number;
  /** Events per collector request in the collector benchmark. */
  collectorBatch: number;
  /** Rounds of the collector's C-L-P-P-L-C comparison, pooled. */
  collectorRounds: number;
}

interface LevelResult {
  /** Closed loop: connections; open loop: null (requests arrive at `offeredRate`). */
  connections: number | null;
  offeredRate: number | null;
  seconds: number;
  requestsPerSecond: number;
  reads: number;
  writes: number;
  accepted: number;
  shed: number;
  errors: number;
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
  readP99Ms: number;
  writeP99Ms: number;
  /** CPU seconds per process over the level (the benchmark's own includes autocannon). */
  cpu: Record<string, number | null>;
  machineShare: number;
  /** The read API's own view (its /metrics): p99 of history reads inside the process, by histogram bucket. */
  apiInProcessReadP99Ms: number | null;
  /** Requests the read API shed, by reason. */
  apiShedByReason: Record<string, number>;
  /** The read API's in-flight bound as the level ended (adaptive: lowered while its answers slow down). */
  apiInFlightLimit: number | null;
  /**
   * Open loop only: p99 of accepted requests that arrived in the second half of the level over those of
   * the first half. About 1 when latency is bounded; a queue that grows shows it rising.
   */
  p99GrowthWithinLevel?: number;
  /**
   * Open loop only: how much the median latency of accepted requests climbed through the level, ms: the median of
   * those that arrived in its last quarter less that of its second quarter (the first holds the step's transient).
   * About 0 when latency is bounded, whatever its level; a queue that grows shows it as the growth over half the
   * level. The growth ratio above cannot tell: a queue seconds deep within the first second grows by a small ratio.
   */
  medianClimbMs?: number;
  /** Open loop only: the accepted requests' median and p99 by the second they arrived in, with the shed count. */
  bySecond?: { accepted: number; shed: number; p50Ms: number | null; p99Ms: number | null }[];
  /**
   * Open loop only: p99 over every answer of the time it waited in the load generator for one of its pooled
   * connections (bench/open-loop.ts) before it was sent: the service's backlog once it holds every connection.
   */
  socketWaitP99Ms?: number;
}

/** The read API's counters that tell where an accepted read spent its time. */
async function scrapeApi(api: Pick<AppProcess, 'url'>) {
  // Once more on a failed connection: a run of session 17 stopped at one "other side closed" (a pooled connection
  // closed by the server as it was reused, most likely; not diagnosed). A scrape reads counters only.
  const scrape = () => fetch(`${api.url}/metrics`);
  const response = await scrape()
    .catch(scrape)
    .catch((error: Error) => {
      throw new Error(
        `${api.url}/metrics unreachable: ${String((error.cause as Error | undefined)?.message ?? error)}`,
      );
    });
  if (!response.ok) throw new Error(`${api.url}/metrics answered ${response.status}`);
  const text = await response.text();
  const buckets = new Map<number, number>();
  const bucket = /^viewing_history_http_request_duration_seconds_bucket\{(.*)\} (\d+)$/gm;
  for (const [, labels, count] of text.matchAll(bucket)) {
    if (!labels.includes('route="/v1/profiles/:profileId/history"') || !labels.includes('status="200"')) continue;
    const le = /le="([^"]+)"/.exec(labels)![1];
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(count));
  }
  const shed: Record<string, number> = {};
  for (const [, reason, count] of text.matchAll(/^viewing_history_requests_shed_total\{reason="([^"]+)"\} (\d+)$/gm))
    shed[reason] = Number(count);
  const inFlightLimit = /^viewing_history_in_flight_limit (\d+)$/m.exec(text);
  return { buckets, shed, inFlightLimit: inFlightLimit ? Number(inFlightLimit[1]) : null };
}

/** p99 upper bound (ms) from the difference of two cumulative histogram scrapes. */
function bucketP99Ms(before: Map<number, number>, after: Map<number, number>): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  const bound = bounds.find((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0) >= 0.99 * total)!;
  return bound === Infinity ? null : bound * 1000;
}

/**
 * Over HTTP against the apps as processes: the collector's events/s against a raw kafkajs producer
 * sending the same batches; then a 9:1 read/write load at rising concurrency, and twice the
 * sustainable load with the in-flight bound set, to show shedding keeps accepted p99 bounded. The
 * overload is an open loop (requests arrive at a rate): closed-loop connections that retry a 503 at
 * once would model clients ignoring Retry-After, not twice the load.
 */
export async function http(ctx: BenchContext, params: HttpParams) {
  const topic = `bench-${Date.now()}-http`;
  const kafkaConfig = { ...ctx.config.kafka, eventTopic: topic, deadLetterTopic: `${topic}.dead-letter` };
  // The collector benchmark writes to a topic of its own that nothing consumes: ingesting its
  // hundreds of thousands of events would load the machine during the mixed load.
  const collectorTopic = `${topic}-collector-only`;
  const kafka = createKafka(kafkaConfig, 'bench');
  await ensureTopics(kafka, kafkaConfig);
  await ensureTopics(kafka, { ...kafkaConfig, eventTopic: collectorTopic });
  const env = {
    ...keyspacesOf(ctx),
    EVENT_TOPIC: topic,
    DEAD_LETTER_TOPIC: kafkaConfig.deadLetterTopic,
    INGEST_GROUP_ID: `${topic}-ingest`,
    LOG_LEVEL: 'warn',
  };
  const apps: AppProcess[] = [];
  let raw: RawReadServer | null = null;
  const start = async (
    name: 'collector' | 'api' | 'ingest',
    extra: Record<string, string> = {},
    options: { stdoutFile?: string } = {},
  ) => {
    const port = `${name.toUpperCase()}_PORT`;
    const app = await AppProcess.start(name, { ...env, [port]: String(await freePort()), ...extra }, port, options);
    apps.push(app);
    return app;
  };
  try {
    // Read side: compacted history with live events on top, as a running service has.
    const seeded = syntheticHistory(
      params.profiles,
      params.sessionsPerProfile,
      Date.now() - 60 * 86_400_000,
    ) as ViewingEvent[];
    const profileIds = [...new Set(seeded.map((e) => e.profileId))];
    await appendEvents(ctx, seeded);
    for (const profileId of profileIds) await compactFully(ctx, profileId);
    const recent = syntheticHistory(params.profiles, 2, Date.now() - 86_400_000);
    const renamed = new Map([...new Set(recent.map((e) => e.profileId))].map((id, i) => [id, profileIds[i]]));
    await ctx.live.append(recent.map((e) => ({ ...e, profileId: renamed.get(e.profileId)! })) as ViewingEvent[]);

    const writers = profileIds.slice(0, 20);
    const deviceToken = await mintAccessToken(ctx.config, { kind: 'device', profiles: writers, ttlSeconds: 3600 });
    const recommenderToken = await mintAccessToken(ctx.config, { kind: 'recommender', ttlSeconds: 3600 });

    const collectorOnly = await start('collector', { EVENT_TOPIC: collectorTopic });
    const collectorResult = await collectorThroughput(
      collectorOnly,
      kafka,
      collectorTopic,
      deviceToken,
      writers,
      params,
    );
    await collectorOnly.stop();
    const ingest = await start('ingest');
    let collector = await start('collector');
    let api = await start('api');

    // Fresh processes: JIT, prepared statements, zstd's WebAssembly and the caches warm up first.
    const target = (): MixedTarget => ({
      api: { url: api.url, pid: api.pid, metrics: true },
      collector,
      ingest,
      readToken: recommenderToken,
      writeToken: deviceToken,
      profiles: profileIds,
      writers,
    });
    const warmUp = () => closedLoopMixedLoad(target(), 4, Math.min(5, params.seconds));
    await settle(ctx.config.cassandra.keyspace);
    await warmUp();
    profileFromHere(api.pid);
    profileFromHere(collector.pid);
    const levels: LevelResult[] = [];
    for (const connections of params.concurrency)
      levels.push(await closedLoopMixedLoad(target(), connections, params.seconds));
    // Sustainable: the fewest connections that reach 90% of the best error-free throughput; more
    // only queue, raising latency without adding throughput.
    const clean = levels.filter((l) => l.errorRate < 0.01);
    const best = Math.max(...clean.map((l) => l.requestsPerSecond));
    const sustainable = clean.find((l) => l.requestsPerSecond >= 0.9 * best) ?? levels[0];
    // Reads only, at the sustainable concurrency: the API against the bare server doing the same reads.
    raw = await startRawReadServer(ctx.config.cassandra.keyspace);
    const readsVsRaw = await readVsRaw(
      {
        apiUrl: api.url,
        apiPid: api.pid,
        readToken: recommenderToken,
        keyspace: ctx.config.cassandra.keyspace,
        path: () => historyPath(target()),
      },
      raw,
      sustainable.connections ?? 8,
      params.seconds,
    );
    process.stderr.write(`[bench] read_vs_raw ${JSON.stringify(readsVsRaw)}\n`);
    await settle(ctx.config.cassandra.keyspace);
    const mixedVsBareReads = await mixedWithBareReads(target(), raw, sustainable.connections ?? 8, params.seconds);
    raw.stop();
    raw = null;
    // The production default logs a line per request, synchronously (observability.module.ts); every other
    // figure here is at `warn`, without it. What that line costs, reads only: two fresh APIs, at `info` and at
    // `warn` (the API above has run for minutes: against it a fresh process's state would count as the line's),
    // each logging to a file, as a log agent takes it (piped into this process, the load generator would read
    // every line).
    const logDirectory = mkdtempSync(join(tmpdir(), 'vh-bench-log-'));
    const logging = async (level: string) =>
      start('api', { LOG_LEVEL: level }, { stdoutFile: join(logDirectory, `api-${level}.log`) });
    const [apiAtInfo, apiAtWarn] = [await logging('info'), await logging('warn')];
    const {
      first: info,
      second: warn,
      ...logRun
    } = await alternatedReads(
      apiAtInfo,
      apiAtWarn,
      { readToken: recommenderToken, path: () => historyPath(target()) },
      sustainable.connections ?? 8,
      params.seconds,
    );
    await Promise.all([apiAtInfo.stop(), apiAtWarn.stop()]);
    rmSync(logDirectory, { recursive: true, force: true });

    // The product's defaults: the adaptive bound under the ceiling HTTP_MAX_IN_FLIGHT (256; ADR 13) and the event
    // loop delay bound (fixed bounds of 8-32 kept the overload bounded where 128 did not, bench/ANALYSIS.md session
    // 17, and an operator cannot know the knee in advance). VH_BENCH_IN_FLIGHT_BOUND sets the ceiling and
    // VH_BENCH_IN_FLIGHT_LIMIT=fixed a fixed bound, to compare at the same offered rate.
    for (const app of [api, collector]) await app.stop();
    const bound = process.env.VH_BENCH_IN_FLIGHT_BOUND ?? String(ctx.config.http.maxInFlight);
    const limitMode = process.env.VH_BENCH_IN_FLIGHT_LIMIT ?? ctx.config.http.inFlightLimitMode;
    const shedding = { HTTP_MAX_IN_FLIGHT: bound, HTTP_IN_FLIGHT_LIMIT: limitMode };
    api = await start('api', shedding);
    collector = await start('collector', shedding);
    // Each phase starts on a settled Cassandra (memtables flushed, compactions done), as the first did: the
    // writes of the phases before would otherwise flush and compact in the middle of a level.
    await settle(ctx.config.cassandra.keyspace);
    await warmUp();
    // Offered as an open loop: 90% of the sustainable throughput (a closed loop's best is a server kept
    // exactly busy; random arrivals at that rate would queue without end), then twice that.
    const rate = Math.round(0.9 * sustainable.requestsPerSecond);
    const bounded = await openLoopMixedLoad(target(), rate, params.seconds, 'sustainable-shedding');
    const overload = await openLoopMixedLoad(target(), rate * 2, params.seconds, 'twice-shedding');
    // The contrast: no shedding at all (no in-flight bound, event loop delay ignored).
    for (const app of [api, collector]) await app.stop();
    const noShedding = {
      HTTP_MAX_IN_FLIGHT: '100000',
      HTTP_IN_FLIGHT_LIMIT: 'fixed',
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
    };
    api = await start('api', noShedding);
    collector = await start('collector', noShedding);
    await settle(ctx.config.cassandra.keyspace);
    await warmUp();
    const unboundedOverload = await openLoopMixedLoad(target(), rate * 2, params.seconds, 'twice-no-shedding');
    return {
      collector: collectorResult,
      mixed: {
        name: 'mixed-load',
        parameters: { ...params, readWriteRatio: '9:1', profiles: profileIds.length },
        levels,
        sustainable,
        readsVsRaw,
        mixedVsBareReads,
        requestLogLine: { ...logRun, info, warn },
        inFlightBound: Number(bound),
        inFlightLimitMode: limitMode,
        // The apps inherit this process's environment: HTTP_IN_FLIGHT_LIMIT and HTTP_IN_FLIGHT_TOLERANCE set for the
        // run set every phase but the one without shedding.
        inFlightTolerance: ctx.config.http.inFlightTolerance,
        defaultInFlightLimitMode: ctx.config.http.inFlightLimitMode,
        offeredRate: rate,
        atSustainableWithBound: bounded,
        atTwiceSustainableWithBound: overload,
        atTwiceSustainableWithoutShedding: unboundedOverload,
        overloadP99Ratio: round(overload.p99Ms / bounded.p99Ms),
        // Bounded: at twice the load, with shedding, latency does not climb through the level: its median climbs over
        // half the level by less than the sustainable p99, and its p99 stays under half of no shedding's. The growth
        // ratio alone passed a run whose median climbed 460 to 2,305 ms in 8 s (1.35x with shedding, 1.39x without:
        // bench/ANALYSIS.md, session 17). A request held in the load generator's pool counts: a service that read and
        // shed at the arrival rate would hold about its in-flight bound of the 256 connections, so a full pool is the
        // service's backlog. Null when the level is too short to judge (--quick).
        overloadBounded: Number.isFinite(overload.medianClimbMs)
          ? overload.medianClimbMs! <= sustainable.p99Ms && overload.p99Ms < unboundedOverload.p99Ms / 2
          : null,
      },
    };
  } finally {
    raw?.stop();
    await Promise.all(apps.map((app) => app.stop()));
    await deleteTopics(kafka, [topic, kafkaConfig.deadLetterTopic, collectorTopic]).catch(() => undefined);
  }
}

/**
 * The mix with no read API of ours: the same 9:1 mix at the API's sustainable concurrency, its reads answered
 * by the bare read server (no auth, no Nest; it reads a version whole through the cache where the API reads
 * page by page), A-B-B-A with the API. Every process's CPU per request, fixed costs included, beside it. Not an
 * upper bound of what a read API could do: the figure of this one against the least server of its libraries.
 */
async function mixedWithBareReads(target: MixedTarget, raw: RawReadServer, connections: number, seconds: number) {
  const bare: MixedTarget = { ...target, api: { url: raw.url, pid: raw.pid, metrics: false } };
  const runs = { api: [] as LevelResult[], bare: [] as LevelResult[] };
  // A-B-B-A: the writes of one pass flush and compact during the next, on both sides alike.
  for (const side of ['api', 'bare', 'bare', 'api'] as const)
    runs[side].push(await closedLoopMixedLoad(side === 'api' ? target : bare, connections, seconds));
  const view = (levels: LevelResult[]) => {
    const requests = levels.reduce((sum, l) => sum + l.reads + l.writes, 0);
    const errors = levels.reduce((sum, l) => sum + l.errors + l.shed, 0);
    const cpuMicrosPerRequest: Record<string, number | null> = {};
    for (const name of Object.keys(levels[0].cpu)) {
      const seconds = levels.map((l) => l.cpu[name]);
      cpuMicrosPerRequest[name] = seconds.some((s) => s == null)
        ? null
        : round((seconds.reduce((a, b) => a! + b!, 0)! * 1e6) / requests, 1);
    }
    return {
      requestsPerSecond: round(requests / (levels.length * seconds)),
      errors,
      cpuMicrosPerRequest,
      machineShare: round(levels.reduce((sum, l) => sum + l.machineShare, 0) / levels.length, 2),
    };
  };
  const api = view(runs.api);
  const withBare = view(runs.bare);
  return {
    connections,
    seconds,
    api,
    bare: withBare,
    ratio: round(api.requestsPerSecond / withBare.requestsPerSecond),
  };
}

/** Clients posting to the collector at once in its benchmark. */
export const COLLECTOR_CONNECTIONS = 16;

/** `size` events of whole watch sessions over `profiles`, as a device posts them. */
export function collectorBatch(profiles: readonly string[], size: number): WirePlaybackEvent[] {
  const events: WirePlaybackEvent[] = [];
  while (events.length < size)
    events.push(...watchSession(profiles[events.length % profiles.length], 'title-1', Date.now() - 3_600_000));
  return events.slice(0, size);
}

/**
 * New batches posted to `server`'s /v1/events by `connections` clients for `seconds`: autocannon's result, with the
 * server's and Kafka's CPU over the run.
 */
export function postBatches(
  server: { url: string; pid: number | undefined },
  load: { token: string; profiles: readonly string[]; batch: number },
  connections: number,
  seconds: number,
) {
  return cpuProfile({ collector: server.pid, kafka: servicePid('kafka') }, () =>
    autocannon({
      url: `${server.url}/v1/events`,
      connections,
      duration: seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${load.token}` },
      requests: [
        {
          setupRequest: (request) => ({
            ...request,
            body: JSON.stringify({ events: collectorBatch(load.profiles, load.batch) }),
          }),
        },
      ],
    }),
  );
}

/**
 * Events/s the collector accepts into Kafka, against a raw producer sending the same batches and against the least
 * collector, alternated collector, least collector, producer, producer, least collector, collector, in
 * `collectorRounds` rounds pooled (one round's collector / least collector was 0.89 and 0.82 in session 16's two
 * alternated runs, its least collector / raw producer 0.70 and 0.97); then the bare endpoints that bound it, each
 * warmed up and measured once.
 */
async function collectorThroughput(
  collector: AppProcess,
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  token: string,
  profiles: string[],
  params: HttpParams,
) {
  const connections = COLLECTOR_CONNECTIONS;
  const batch = () => collectorBatch(profiles, params.collectorBatch);
  const post = (url: string, pid: number | undefined) =>
    postBatches({ url, pid }, { token, profiles, batch: params.collectorBatch }, connections, params.seconds);

  // Baseline: the same batch size, acks = all and gzip, `connections` sends in flight.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const produce = async () => {
    let sent = 0;
    // This process's CPU while it produces (the batches' generation included: a bound above the producer's own).
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + params.seconds * 1000;
    const sender = async () => {
      while (performance.now() < deadline) {
        const events = batch().map(
          (e): ViewingEvent => ({ ...e, occurredAt: Date.parse(e.occurredAt) }) as ViewingEvent,
        );
        await producer.send({
          topic,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: events.map((e) => ({ key: e.profileId, value: encodeViewingEvent(e) })),
        });
        sent += events.length;
      }
    };
    await Promise.all(Array.from({ length: connections }, sender));
    const cpu = process.cpuUsage(cpuBefore);
    return { sent, seconds: (performance.now() - started) / 1000, cpuMicros: cpu.user + cpu.system };
  };

  // The least collector (bench/raw-collector-server.ts, BARE_SERVER_CONTRACT=1): the collector's own intake and
  // publisher, without Nest, Express, request lines or request metrics. Its ceiling: alternated with it.
  let least: Awaited<ReturnType<typeof startBareServer>> | null = null;
  const tally = () => ({ accepted: 0, seconds: 0, cpu: 0, kafkaCpu: 0, benchmarkCpu: 0, requests: 0, non2xx: 0 });
  const side = { collector: { ...tally(), p99: [] as number[] }, least: { ...tally(), p99: [] as number[] } };
  const raw = { sent: 0, seconds: 0, cpuMicros: 0 };
  // Each round's own ratios, to show the spread the pooled figures average over.
  const rounds: { collectorVsRawProducer: number; leastVsRawProducer: number; collectorVsLeast: number }[] = [];
  try {
    least = await startBareServer('raw-collector-server.js', { EVENT_TOPIC: topic, BARE_SERVER_CONTRACT: '1' });
    // Warmed up as the bare endpoints below are (JIT, the producer's connections): one run of each, measured next.
    await post(collector.url, collector.pid);
    await post(least.url, least.pid);
    await produce();
    profileFromHere(collector.pid);
    for (let r = 0; r < params.collectorRounds; r++) {
      // The round's own rates: the pooled tallies' growth over it.
      const before = { collector: { ...side.collector }, least: { ...side.least }, raw: { ...raw } };
      // C-L-P-P-L-C: a burst of the shared machine's load falls on each alike.
      for (const turn of ['collector', 'least', 'producer', 'producer', 'least', 'collector'] as const) {
        if (turn === 'producer') {
          const run = await produce();
          raw.sent += run.sent;
          raw.seconds += run.seconds;
          raw.cpuMicros += run.cpuMicros;
          continue;
        }
        const server = turn === 'collector' ? collector : least;
        if (!server) throw new Error('the least collector is not running');
        const { result, cpu } = await post(server.url, server.pid);
        // Every answer a 202: a 207 (some events refused) would count refused events as accepted.
        if (result['2xx'] !== (result.statusCodeStats?.['202']?.count ?? 0))
          throw new Error(`the ${turn} refused events of valid batches`);
        // A ceiling that refused requests is no ceiling: stop at once rather than after every round. The collector's
        // own refusals (a shed 503) only lower its rate, as they would a device's.
        if (turn === 'least' && result.non2xx > 0)
          throw new Error(`the least collector answered ${result.non2xx} requests non-2xx`);
        const into = side[turn];
        into.accepted += result['2xx'] * params.collectorBatch;
        into.seconds += result.duration;
        into.cpu += cpu.collector ?? NaN;
        into.kafkaCpu += cpu.kafka ?? NaN;
        into.benchmarkCpu += cpu.benchmark ?? NaN;
        into.requests += result.requests.total;
        into.non2xx += result.non2xx;
        into.p99.push(result.latency.p99);
      }
      const inRound = (events: number, eventsBefore: number, seconds: number, secondsBefore: number) =>
        (events - eventsBefore) / (seconds - secondsBefore);
      const [collectorRate, leastRate] = (['collector', 'least'] as const).map((turn) =>
        inRound(side[turn].accepted, before[turn].accepted, side[turn].seconds, before[turn].seconds),
      );
      const producerRate = inRound(raw.sent, before.raw.sent, raw.seconds, before.raw.seconds);
      rounds.push({
        collectorVsRawProducer: round(collectorRate / producerRate),
        leastVsRawProducer: round(leastRate / producerRate),
        collectorVsLeast: round(collectorRate / leastRate),
      });
    }
  } finally {
    least?.stop();
    await producer.disconnect();
  }
  const httpEventsPerSecond = side.collector.accepted / side.collector.seconds;
  const rawEventsPerSecond = raw.sent / raw.seconds;
  const leastEventsPerSecond = side.least.accepted / side.least.seconds;
  const microsPerEvent = (cpuSeconds: number, events: number) =>
    Number.isNaN(cpuSeconds) || events === 0 ? null : round((cpuSeconds * 1e6) / events, 1);
  const cpuSecondsOrNull = (cpuSeconds: number) => (Number.isNaN(cpuSeconds) ? null : round(cpuSeconds));

  // The raw producer's work behind a bare HTTP endpoint (bench/raw-collector-server.ts): what HTTP alone costs,
  // the ceiling of any collector on this machine (issue 14: the collector's limit measured, not estimated).
  const bareRun = async (env: Record<string, string>) => {
    const bare = await startBareServer('raw-collector-server.js', { EVENT_TOPIC: topic, ...env });
    try {
      await post(bare.url, bare.pid); // warm-up: JIT and the producer's connections
      const { result: b, cpu: bareCpu } = await post(bare.url, bare.pid);
      // A ceiling that refused requests (a 500 when an event does not encode) would be no ceiling.
      if (b.non2xx > 0)
        throw new Error(`the bare endpoint (${JSON.stringify(env)}) answered ${b.non2xx} requests non-2xx`);
      const accepted = b['2xx'] * params.collectorBatch;
      const eventsPerSecond = accepted / b.duration;
      return {
        eventsPerSecond: round(eventsPerSecond),
        cpuMicrosPerEvent: microsPerEvent(bareCpu.collector ?? NaN, accepted),
        non2xx: b.non2xx,
        vsRawProducer: round(eventsPerSecond / rawEventsPerSecond),
        collectorVs: round(httpEventsPerSecond / eventsPerSecond),
      };
    } finally {
      bare.stop();
    }
  };
  const { collectorVs: collectorVsBareHttp, ...bareHttp } = await bareRun({});
  // The same, sealing each event as the collector does (issue 15): the ceiling of a collector that must seal.
  const { collectorVs: collectorVsBareSealingHttp, ...bareSealing } = await bareRun({ BARE_SERVER_SEAL: '1' });
  return {
    name: 'collector',
    parameters: {
      connections,
      batch: params.collectorBatch,
      seconds: params.seconds,
      rounds: params.collectorRounds,
      runsEach: 2 * params.collectorRounds,
    },
    rounds,
    eventsPerSecond: round(httpEventsPerSecond),
    requests: side.collector.requests,
    non2xx: side.collector.non2xx,
    latencyP99Ms: Math.max(...side.collector.p99),
    collectorCpuMicrosPerEvent: microsPerEvent(side.collector.cpu, side.collector.accepted),
    // CPU seconds over the collector's runs (the benchmark's: the load generator's).
    cpu: {
      collector: cpuSecondsOrNull(side.collector.cpu),
      kafka: cpuSecondsOrNull(side.collector.kafkaCpu),
      benchmark: cpuSecondsOrNull(side.collector.benchmarkCpu),
    },
    rawProducerEventsPerSecond: round(rawEventsPerSecond),
    rawProducerCpuMicrosPerEvent: raw.sent === 0 ? null : round(raw.cpuMicros / raw.sent, 1),
    ratio: round(httpEventsPerSecond / rawEventsPerSecond),
    bareHttp: { ...bareHttp, collectorVsBareHttp },
    bareSealingHttp: { ...bareSealing, collectorVsBareSealingHttp },
    leastCollectorHttp: {
      eventsPerSecond: round(leastEventsPerSecond),
      cpuMicrosPerEvent: microsPerEvent(side.least.cpu, side.least.accepted),
      non2xx: side.least.non2xx,
      vsRawProducer: round(leastEventsPerSecond / rawEventsPerSecond),
      collectorVsLeastCollectorHttp: round(httpEventsPerSecond / leastEventsPerSecond),
    },
  };
}

/** Who is sending, and what: the two apps, their tokens, the profiles read and the profiles written. */
interface MixedTarget {
  /** The server answering the reads: the read API, or the bare read server (no /metrics) in its place. */
  api: Pick<AppProcess, 'url' | 'pid'> & { metrics: boolean };
  collector: AppProcess;
  /** Writes become rows through it: its CPU is part of a write's cost. */
  ingest: AppProcess;
  readToken: string;
  writeToken: string;
  profiles: string[];
  writers: string[];
}

const historyPath = (target: MixedTarget) =>
  `/v1/profiles/${target.profiles[Math.floor(Math.random() * target.profiles.length)]}/history?limit=20`;
const newPlayEvent = (target: MixedTarget) =>
  JSON.stringify(
    watchSession(
      target.writers[Math.floor(Math.random() * target.writers.length)],
      `title-${randomUUID().slice(0, 4)}`,
      Date.now() - 1_000,
    )[0],
  );

/** Answers of one load level, by kind; latency of accepted (2xx) answers only. */
class LoadTally {
  readonly latencies = { read: [] as number[], write: [] as number[] };
  readonly counts = { reads: 0, writes: 0, accepted: 0, shed: 0, errors: 0 };

  /** `status` null: no answer (connection error or timeout). */
  answer(kind: 'read' | 'write', status: number | null, ms: number): void {
    if (kind === 'read') this.counts.reads++;
    else this.counts.writes++;
    if (status !== null && status >= 200 && status < 300) {
      this.counts.accepted++;
      this.latencies[kind].push(ms);
    } else if (status === 503) this.counts.shed++;
    else this.counts.errors++;
  }
}

const NO_SCRAPE = { buckets: new Map<number, number>(), shed: {} as Record<string, number>, inFlightLimit: null };

/** Runs one level, with the CPU of each process and the read API's own view around it. */
async function measureLevel(
  target: MixedTarget,
  level: { connections: number | null; offeredRate: number | null; seconds: number },
  run: (tally: LoadTally) => Promise<void>,
): Promise<LevelResult> {
  const tally = new LoadTally();
  const scrape = () => (target.api.metrics ? scrapeApi(target.api) : Promise.resolve(NO_SCRAPE));
  const apiBefore = await scrape();
  const { cpu, machineShare } = await cpuProfile(
    {
      api: target.api.pid,
      collector: target.collector.pid,
      ingest: target.ingest.pid,
      cassandra: servicePid('cassandra'),
      kafka: servicePid('kafka'),
    },
    () => run(tally),
  );
  const apiAfter = await scrape();
  const { counts, latencies } = tally;
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  const all = sorted([...latencies.read, ...latencies.write]);
  const total = counts.reads + counts.writes;
  return {
    ...level,
    requestsPerSecond: round(total / level.seconds),
    ...counts,
    errorRate: round((counts.errors + counts.shed) / Math.max(1, total), 4),
    p50Ms: round(percentile(all, 50)),
    p99Ms: round(percentile(all, 99)),
    readP99Ms: round(percentile(sorted(latencies.read), 99)),
    writeP99Ms: round(percentile(sorted(latencies.write), 99)),
    cpu,
    machineShare,
    apiInProcessReadP99Ms: bucketP99Ms(apiBefore.buckets, apiAfter.buckets),
    apiShedByReason: Object.fromEntries(
      Object.entries(apiAfter.shed).map(([reason, n]) => [reason, n - (apiBefore.shed[reason] ?? 0)]),
    ),
    apiInFlightLimit: apiAfter.inFlightLimit,
  };
}

/**
 * Closed loop: nine reads (a history page of a random profile, as a recommendation job would) for each
 * write (one new play event), reads by autocannon on `connections` connections, each sending as soon as
 * it is answered; one write per nine reads answered, so the mix holds whatever the latencies are.
 */
async function closedLoopMixedLoad(target: MixedTarget, connections: number, seconds: number): Promise<LevelResult> {
  return measureLevel(target, { connections, offeredRate: null, seconds }, async (tally) => {
    let done!: (result: autocannon.Result) => void;
    const finished = new Promise<autocannon.Result>((resolve) => (done = resolve));
    const reads = autocannon(
      {
        url: target.api.url,
        connections,
        duration: seconds,
        timeout: 10,
        headers: { authorization: `Bearer ${target.readToken}` },
        requests: [{ setupRequest: (r) => ({ ...r, path: historyPath(target) }) }],
      },
      (error, result) => (error ? done({ ...result, errors: result?.errors ?? 1 }) : done(result)),
    );
    let readsSinceWrite = 0;
    const writes: Promise<void>[] = [];
    const write = async () => {
      const t = performance.now();
      try {
        const response = await fetch(`${target.collector.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${target.writeToken}` },
          body: newPlayEvent(target),
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        tally.answer('write', response.status, performance.now() - t);
      } catch {
        tally.answer('write', null, performance.now() - t);
      }
    };
    reads.on('response', (_client, status, _bytes, ms) => {
      tally.answer('read', status, ms);
      if (++readsSinceWrite >= 9) {
        readsSinceWrite = 0;
        writes.push(write());
      }
    });
    const result = await finished;
    await Promise.all(writes);
    tally.counts.errors += result.errors + result.timeouts;
  });
}

/**
 * Open loop: requests arrive at `rate` per second (Poisson), one in ten a write, answered or not. With
 * VH_BENCH_TRACE_DIR set, every answer is also written there as [arrival ms, latency ms, status, write?]:
 * how the start-up transients of this benchmark were found.
 */
async function openLoopMixedLoad(
  target: MixedTarget,
  rate: number,
  seconds: number,
  label: string,
): Promise<LevelResult> {
  const trace: [number, number, number, number, number][] = [];
  const result = await measureLevel(target, { connections: null, offeredRate: rate, seconds }, (tally) =>
    openLoop(
      rate,
      seconds,
      (): OpenLoopRequest =>
        Math.random() < 0.1
          ? {
              url: `${target.collector.url}/v1/events`,
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${target.writeToken}` },
              body: newPlayEvent(target),
            }
          : {
              url: `${target.api.url}${historyPath(target)}`,
              method: 'GET',
              headers: { authorization: `Bearer ${target.readToken}` },
            },
      (request, status, ms, arrivedAtMs, waitedForSocketMs) => {
        tally.answer(request.method === 'POST' ? 'write' : 'read', status, ms);
        trace.push([
          Math.round(arrivedAtMs),
          Math.round(ms),
          status ?? 0,
          request.method === 'POST' ? 1 : 0,
          Math.round(waitedForSocketMs ?? ms),
        ]);
      },
      { warmUrls: [`${target.api.url}/health/live`, `${target.collector.url}/health/live`] },
    ),
  );
  const traceDir = process.env.VH_BENCH_TRACE_DIR;
  if (traceDir) writeFileSync(join(traceDir, `open-loop-${label}.json`), JSON.stringify(trace));
  const accepted = (from: number, to: number) =>
    trace
      .filter(([arrived, , status]) => arrived >= from && arrived < to && status >= 200 && status < 300)
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
  const level = seconds * 1000;
  const half = level / 2;
  const bySecond = Array.from({ length: seconds }, (_, i) => {
    const ms = accepted(i * 1000, (i + 1) * 1000);
    const arrived = trace.filter(([at]) => at >= i * 1000 && at < (i + 1) * 1000);
    return {
      accepted: ms.length,
      shed: arrived.filter(([, , status]) => status === 503).length,
      p50Ms: ms.length ? round(percentile(ms, 50)) : null,
      p99Ms: ms.length ? round(percentile(ms, 99)) : null,
    };
  });
  // The climb over half the level, from the least-squares slope of the seconds' medians after the first (the step's
  // transient): two quarters' medians alone swung by 290 ms at 90% of the load, with nothing climbing.
  const points = bySecond.flatMap((b, i) => (i > 0 && b.p50Ms !== null ? [[i, b.p50Ms]] : []));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const [mx, my] = [mean(points.map(([x]) => x)), mean(points.map(([, y]) => y))];
  const slope =
    points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return {
    ...result,
    p99GrowthWithinLevel: round(
      percentile(accepted(half, Infinity), 99) / Math.max(1, percentile(accepted(0, half), 99)),
    ),
    medianClimbMs: points.length >= 3 ? round((slope * seconds) / 2) : NaN,
    bySecond,
    socketWaitP99Ms: round(
      percentile(
        trace.map(([, , , , waited]) => waited).sort((a, b) => a - b),
        99,
      ),
    ),
  };
}
