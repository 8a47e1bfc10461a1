import { performance } from 'node:perf_hooks';
import { concurrent } from 'cassandra-driver';
import { Admin, CompressionTypes, Partitioners } from 'kafkajs';
import { decodeViewingEvent, encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { createKafka, deleteTopics, ensureEventLogTopics } from '@vh/messaging';
import { AppProcess } from '../test/support/app-process';
import { syntheticHistory } from '../test/support/event-log';
import { freePort } from '../test/support/free-port';
import { RawPipelineRun } from './raw-pipeline';
import { spawnBenchScript } from './raw-read';
import { BenchContext, cpuProfile, profileFromHere, round, servicePid, settle, keyspacesOf } from './bench-context';

export interface IngestParams {
  profiles: number;
  sessionsPerProfile: number;
  /** Concurrency levels tried for the raw ceiling. */
  ceilingConcurrency: number[];
}

/**
 * Ingest end to end (produced to Kafka until every event is in Cassandra, with the ingest app running
 * as in production) against the raw ceiling: the same rows, same statement, written straight with
 * cassandra-driver at the best concurrency found, one row per request or one unlogged batch per profile.
 */
export async function ingest(ctx: BenchContext, params: IngestParams) {
  const events = syntheticHistory(
    params.profiles,
    params.sessionsPerProfile,
    Date.now() - 3 * 86_400_000,
  ) as ViewingEvent[];

  const ceiling = [];
  for (const concurrency of params.ceilingConcurrency) {
    for (const mode of ['row', 'profile-batch'] as const) {
      const rows = events.map((e) => ({ ...e, profileId: `${e.profileId}-c${concurrency}-${mode}` }));
      await settle(ctx.config.cassandra.keyspace);
      const measured = await cpuProfile({ cassandra: servicePid('cassandra') }, async () => {
        if (mode === 'row') {
          await concurrent.executeConcurrent(
            ctx.client,
            ctx.live.insert,
            rows.map((e) => ctx.live.params(e)),
            { concurrencyLevel: concurrency, raiseOnFirstError: true },
          );
        } else {
          const byProfile = new Map<string, ViewingEvent[]>();
          for (const e of rows) byProfile.set(e.profileId, [...(byProfile.get(e.profileId) ?? []), e]);
          const batches = [...byProfile.values()].flatMap((list) => chunk(list, 20));
          let next = 0;
          const worker = async () => {
            while (next < batches.length) {
              const batch = batches[next++];
              await ctx.client.batch(
                batch.map((e) => ({ query: ctx.live.insert, params: ctx.live.params(e) })),
                { prepare: true, logged: false },
              );
            }
          };
          await Promise.all(Array.from({ length: concurrency }, worker));
        }
      });
      const seconds = measured.wallSeconds;
      ceiling.push({
        mode,
        concurrency,
        seconds: round(seconds),
        eventsPerSecond: round(events.length / seconds),
        cpu: measured.cpu,
        machineShare: measured.machineShare,
      });
    }
  }
  const best = ceiling.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));

  const topic = `bench-${Date.now()}-events`;
  const env = {
    ...keyspacesOf(ctx),
    EVENT_TOPIC: topic,
    DEAD_LETTER_TOPIC: `${topic}.dead-letter`,
    INGEST_GROUP_ID: `${topic}-ingest`,
    INGEST_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  const kafka = createKafka(
    { ...ctx.config.kafka, eventTopic: topic, deadLetterTopic: env.DEAD_LETTER_TOPIC },
    'bench',
  );
  await ensureTopics(kafka, { ...ctx.config.kafka, eventTopic: topic, deadLetterTopic: env.DEAD_LETTER_TOPIC });
  const app = await AppProcess.start('ingest', env);
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  /**
   * Every event to `to` in sends of 1,000 at once, as devices' collectors would (acks = all, gzip), each keyed by
   * the profile of the event at its index in `keyedAs`; resolves with the seconds it took.
   */
  const produceAll = async (to: string, list: readonly ViewingEvent[], keyedAs: readonly ViewingEvent[]) => {
    const started = performance.now();
    const keyed = list.map((event, i) => ({ key: keyedAs[i].profileId, value: event }));
    await Promise.all(
      chunk(keyed, 1_000).map((sends) =>
        producer.send({
          topic: to,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: sends.map(({ key, value }) => ({ key, value: encodeViewingEvent(value) })),
        }),
      ),
    );
    return (performance.now() - started) / 1000;
  };
  try {
    await settle(ctx.config.cassandra.keyspace);
    await untilGroupStable(admin, env.INGEST_GROUP_ID, 200);
    const measured = await cpuProfile(
      { cassandra: servicePid('cassandra'), kafka: servicePid('kafka'), ingest: app.pid },
      async () => {
        const producedSeconds = await produceAll(topic, events, events);
        // Offsets are committed only after the rows are written (invariant 2), so a caught-up group means
        // every event is in Cassandra; the count below checks it.
        const end = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.offset), 0);
        await until(async () => (await committedTotal(admin, env.INGEST_GROUP_ID, topic)) >= end, 600_000, 50);
        return { producedSeconds, end };
      },
    );
    const seconds = measured.wallSeconds;
    const { producedSeconds, end } = measured.result;
    const stored = await countLiveRows(ctx, [...new Set(events.map((e) => e.profileId))]);
    if (stored !== events.length) throw new Error(`ingest stored ${stored} of ${events.length} events`);
    const endToEnd = {
      seconds: round(seconds),
      producedSeconds: round(producedSeconds),
      eventsPerSecond: round(events.length / seconds),
      cpu: measured.cpu,
      machineShare: measured.machineShare,
    };
    // The least pipeline end to end (issue 14: the end-to-end limit measured, no longer inferred from the replay's):
    // the same events under profiles of their own (new partitions, as ingest's pass wrote), produced alike to a
    // topic of its own while the least pipeline, started and in its group first, consumes it. One run: read
    // against ingest's end to end above, not alternated.
    // Deleted with the others at the end: the admin below keeps it in its metadata, and the topic gone mid-step
    // failed the replay's offset reads ("This server does not host this topic-partition").
    const leastTopic = `${topic}-least`;
    await ensureTopics(kafka, { ...ctx.config.kafka, eventTopic: leastTopic, deadLetterTopic: env.DEAD_LETTER_TOPIC });
    // Keyed by the original profile: the same partitions carry the same load as in ingest's pass (the rows, keyed
    // by the value's profile, are new partitions of Cassandra's).
    const leastEvents = events.map((e) => ({ ...e, profileId: `${e.profileId}-least` }));
    await settle(ctx.config.cassandra.keyspace);
    const leastGroup = `${leastTopic}-raw`;
    const leastChild = startRawPipelineProcess({
      keyspace: ctx.config.cassandra.keyspace,
      topic: leastTopic,
      groupId: leastGroup,
      end: leastEvents.length,
      writeConcurrency: ctx.config.ingest.writeConcurrency,
      partitionsConcurrently: ctx.config.ingest.partitionsConsumedConcurrently,
    });
    // A failure here is this step's own (recorded), never the replay's and the pairs' below.
    let leastEndToEnd: Record<string, unknown> | { error: string };
    try {
      await Promise.race([untilGroupStable(admin, leastGroup, 200), leastChild.failed]);
      const leastMeasured = await cpuProfile(
        { cassandra: servicePid('cassandra'), kafka: servicePid('kafka'), pipeline: leastChild.pid },
        async () => {
          const producedSeconds = await produceAll(leastTopic, leastEvents, events);
          const leastEnd = (await admin.fetchTopicOffsets(leastTopic)).reduce((sum, p) => sum + Number(p.offset), 0);
          const caughtUp = async () => (await committedTotal(admin, leastGroup, leastTopic)) >= leastEnd;
          // Its own count may reach the end first (a message produced twice on a retry): then a short wait only.
          const afterItsEnd = leastChild.result.then(() => until(caughtUp, 30_000, 50));
          await Promise.race([until(caughtUp, 600_000, 50), leastChild.failed, afterItsEnd]);
          return { producedSeconds };
        },
      );
      await leastChild.result; // its own count reached the end: ended after it printed, never before (a rejection)
      const leastStored = await countLiveRows(ctx, [...new Set(leastEvents.map((e) => e.profileId))]);
      if (leastStored !== leastEvents.length)
        throw new Error(`the least pipeline stored ${leastStored} of ${leastEvents.length} events`);
      const pipelineCpu = leastMeasured.cpu.pipeline;
      leastEndToEnd = {
        seconds: round(leastMeasured.wallSeconds),
        producedSeconds: round(leastMeasured.result.producedSeconds),
        eventsPerSecond: round(leastEvents.length / leastMeasured.wallSeconds),
        cpu: leastMeasured.cpu,
        machineShare: leastMeasured.machineShare,
        cpuMicrosPerEvent: typeof pipelineCpu === 'number' ? round((pipelineCpu * 1e6) / leastEvents.length, 1) : null,
        ratio: round(leastEvents.length / leastMeasured.wallSeconds / best.eventsPerSecond),
        /** Ingest's end to end against it. */
        ingestVsLeast: round(endToEnd.eventsPerSecond / (leastEvents.length / leastMeasured.wallSeconds)),
      };
    } catch (error) {
      leastEndToEnd = { error: (error as Error).message };
    } finally {
      leastChild.kill();
    }
    // Replay: a fresh consumer group reads the full topic again (rebuilding the projection, or catching
    // up after an outage). Nothing produces meanwhile, so this is ingest alone against the same ceiling.
    // Cassandra settled first, as before the raw pipeline below: else the replay alone shares the cores with
    // the flush and compactions of the end-to-end run's writes.
    // One pass of a consumer group over the topic, the replay's or the least pipeline's, measured alike: from the
    // group stable until its committed offsets reach the end. `failed` ends the wait when its process fails.
    const measurePass = async (
      groupId: string,
      processes: Record<string, number | undefined>,
      /** The process of `processes` whose CPU an event is reported. */
      measured: string,
      failed: Promise<never>,
    ) => {
      const committedOf = () => committedTotal(admin, groupId, topic);
      await Promise.race([untilGroupStable(admin, groupId, 20), failed]);
      profileFromHere(processes[measured]);
      const pass = await cpuProfile(processes, async () => {
        const from = await committedOf();
        await Promise.race([until(async () => (await committedOf()) >= end, 600_000, 50), failed]);
        return end - from;
      });
      const events = pass.result;
      const cpu = pass.cpu[measured];
      return {
        events,
        seconds: round(pass.wallSeconds),
        eventsPerSecond: round(events / pass.wallSeconds),
        cpu: pass.cpu,
        machineShare: pass.machineShare,
        cpuMicrosPerEvent: typeof cpu === 'number' ? round((cpu * 1e6) / events, 1) : null,
      };
    };
    const services = () => ({ cassandra: servicePid('cassandra'), kafka: servicePid('kafka') });
    const never = new Promise<never>(() => undefined);
    const replayOnce = async (pass: number) => {
      await settle(ctx.config.cassandra.keyspace);
      const replayGroup = `${topic}-replay-${pass}`;
      const replayApp = await AppProcess.start('ingest', {
        ...env,
        INGEST_GROUP_ID: replayGroup,
        INGEST_PORT: String(await freePort()),
      });
      try {
        const { cpuMicrosPerEvent, ...measured } = await measurePass(
          replayGroup,
          { ...services(), ingest: replayApp.pid },
          'ingest',
          never,
        ).catch((error: Error) => {
          throw new Error(`${error.message}; the replay's ingest logged:\n${replayApp.logs.slice(-4_000)}`);
        });
        return {
          ...measured,
          ingestCpuMicrosPerEvent: cpuMicrosPerEvent,
          ratio: round(measured.eventsPerSecond / best.eventsPerSecond),
        };
      } finally {
        await replayApp.stop();
      }
    };
    // The fair ceiling: the same topic again, by the least pipeline built from the same libraries, in a fresh
    // process of its own (bench/raw-pipeline.process.ts), measured as the replay.
    const rawOnce = async (pass: number) => {
      await settle(ctx.config.cassandra.keyspace);
      const rawGroup = `${topic}-raw-${pass}`;
      const child = startRawPipelineProcess({
        keyspace: ctx.config.cassandra.keyspace,
        topic,
        groupId: rawGroup,
        end,
        writeConcurrency: ctx.config.ingest.writeConcurrency,
        partitionsConcurrently: ctx.config.ingest.partitionsConsumedConcurrently,
      });
      try {
        const measured = await measurePass(rawGroup, { ...services(), pipeline: child.pid }, 'pipeline', child.failed);
        const selfReported = await child.result;
        return {
          ...measured,
          /** The child's own clock and CPU, from its group's join until its count reaches the end (a cross-check). */
          selfReported: {
            eventsPerSecond: round(selfReported.events / selfReported.seconds),
            cpuMicrosPerEvent: round((selfReported.cpuSeconds * 1e6) / selfReported.events, 1),
          },
        };
      } finally {
        child.kill();
      }
    };
    // Alternated in pairs, replay - least, least - replay, replay - least: one run of each moved 1.3x between runs
    // on this shared machine (session 15), and a drift weighs on both sides alike. The ratio is of the two sides'
    // means; each pair's own ratio is kept (`pairs`) to show the spread.
    const replays: Awaited<ReturnType<typeof replayOnce>>[] = [];
    const raws: Awaited<ReturnType<typeof rawOnce>>[] = [];
    for (const order of [
      ['replay', 'least'],
      ['least', 'replay'],
      ['replay', 'least'],
    ]) {
      for (const side of order) {
        if (side === 'replay') replays.push(await replayOnce(replays.length + 1));
        else raws.push(await rawOnce(raws.length + 1));
      }
    }
    const pairs = replays.map((r, i) => round(r.eventsPerSecond / raws[i].eventsPerSecond));
    const meanOf = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const replay = { ...replays[0], rounds: replays.map((r) => r.eventsPerSecond) };
    replay.eventsPerSecond = round(meanOf(replays.map((r) => r.eventsPerSecond)));
    replay.ratio = round(replay.eventsPerSecond / best.eventsPerSecond);
    const ingestMicros = replays.map((r) => r.ingestCpuMicrosPerEvent);
    replay.ingestCpuMicrosPerEvent = ingestMicros.every((m) => m !== null) ? round(meanOf(ingestMicros), 1) : null;
    const rawPipelineResult = { ...raws[0], rounds: raws.map((r) => r.eventsPerSecond) };
    rawPipelineResult.eventsPerSecond = round(meanOf(raws.map((r) => r.eventsPerSecond)));
    const rawMicros = raws.map((r) => r.cpuMicrosPerEvent);
    rawPipelineResult.cpuMicrosPerEvent = rawMicros.every((m) => m !== null) ? round(meanOf(rawMicros), 1) : null;
    // Where ingest's CPU goes, per event: its total against the raw client's, and the share of it that
    // is decoding and validating a message (measured here on the same messages).
    const messages = events.map((e) => Buffer.from(encodeViewingEvent(e)));
    // Each timed on its second pass over the messages: the first one warms the JIT up.
    const microsPerMessage = (decode: (m: Buffer) => unknown) => {
      for (const m of messages) decode(m);
      const started = performance.now();
      for (const m of messages) decode(m);
      return ((performance.now() - started) * 1000) / messages.length;
    };
    const decodeMicros = microsPerMessage((m) => decodeViewingEvent(m));
    const jsonMicros = microsPerMessage((m) => JSON.parse(m.toString('utf8')));
    const perEvent = (cpuSeconds: number | null | undefined) =>
      typeof cpuSeconds === 'number' ? round((cpuSeconds * 1e6) / events.length, 1) : null;
    const profile = {
      ingestCpuMicrosPerEvent: perEvent(measured.cpu.ingest),
      rawClientCpuMicrosPerEvent: perEvent(best.cpu.benchmark),
      cassandraCpuMicrosPerEventEndToEnd: perEvent(measured.cpu.cassandra),
      cassandraCpuMicrosPerEventCeiling: perEvent(best.cpu.cassandra),
      decodeAndValidateMicrosPerEvent: round(decodeMicros, 1),
      jsonParseMicrosPerEvent: round(jsonMicros, 1),
    };
    return {
      profile,
      parameters: {
        ...params,
        events: events.length,
        partitions: ctx.config.kafka.eventTopicPartitions,
        writeConcurrency: ctx.config.ingest.writeConcurrency,
      },
      ceiling,
      best,
      endToEnd,
      /** The least pipeline of the same libraries, end to end: the end-to-end ratio's own ceiling. */
      rawPipelineEndToEnd: leastEndToEnd,
      replay,
      rawPipeline: rawPipelineResult,
      /** Replay against the least pipeline of the same libraries, both reading the whole topic. */
      vsRawPipeline: round(replay.eventsPerSecond / rawPipelineResult.eventsPerSecond),
      /** Each pair's replay against its least pipeline, in the order run. */
      vsRawPipelinePairs: pairs,
      ratio: round(endToEnd.eventsPerSecond / best.eventsPerSecond),
    };
  } finally {
    await producer.disconnect();
    await app.stop();
    await deleteTopics(kafka, [topic, `${topic}-least`, env.DEAD_LETTER_TOPIC]).catch(() => undefined);
    await admin.disconnect();
  }
}

/** The most a run of the least pipeline may take: then it is killed, and the step fails. */
const RAW_PIPELINE_TIMEOUT_MS = 600_000;

/**
 * Starts bench/raw-pipeline.process.ts (built beside this file). `result`: the run it printed (it then waits for
 * `kill()`, so that its CPU can still be read); `failed` rejects as soon as it fails (a crash, no result, the
 * timeout), for racing the waits on it.
 */
function startRawPipelineProcess(options: Record<string, unknown>): {
  pid: number | undefined;
  result: Promise<RawPipelineRun>;
  failed: Promise<never>;
  kill(): void;
} {
  const child = spawnBenchScript('raw-pipeline.process.js', { RAW_PIPELINE_OPTIONS: JSON.stringify(options) }, [
    'pipe',
    'pipe',
    'pipe',
  ]);
  // Piped, all three.
  const [stdin, stdout, stderr] = [child.stdin!, child.stdout!, child.stderr!];
  let out = '';
  let err = '';
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  stdin.on('error', () => undefined); // closed by kill() after it ended: nothing to tell it
  const result = new Promise<RawPipelineRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the least pipeline's process took more than ${RAW_PIPELINE_TIMEOUT_MS} ms: ${err.slice(-2_000)}`),
      );
    }, RAW_PIPELINE_TIMEOUT_MS);
    // Its run is the first line that parses as one; it then waits to be ended (its CPU is read before).
    stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      for (const line of out.split('\n').slice(0, -1)) {
        try {
          const run = JSON.parse(line) as RawPipelineRun;
          if (typeof run.events !== 'number') continue;
          clearTimeout(timer);
          resolve(run);
          return;
        } catch {
          // not its result: a log line
        }
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`the least pipeline's process ended (${code ?? signal}) without a result: ${err.slice(-2_000)}`),
      );
    });
  });
  let settled = false;
  result.then(
    () => (settled = true),
    () => (settled = true),
  );
  const failed = result.then(() => new Promise<never>(() => undefined));
  failed.catch(() => undefined); // raced; `result` is awaited and throws it
  // Ended by its stdin once it has printed its run; before that (a failed wait) it is still consuming: a signal.
  const kill = () => (settled ? stdin.end() : child.kill('SIGTERM'));
  return { pid: child.pid, result, failed, kill };
}

/** Offsets the group has committed on the topic, summed over its partitions (none yet counts 0). */
async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return committed.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** Joined and assigned, so what is timed next is throughput, not start-up. */
async function untilGroupStable(admin: Admin, groupId: string, everyMs: number): Promise<void> {
  await until(async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Stable', 60_000, everyMs);
}

async function countLiveRows(ctx: BenchContext, profileIds: string[]): Promise<number> {
  const table = `${ctx.config.cassandra.keyspace}.live_history`;
  const result = await concurrent.executeConcurrent(
    ctx.client,
    `SELECT count(*) AS n FROM ${table} WHERE profile_id = ?`,
    profileIds.map((id) => [id]),
    { concurrencyLevel: 32, collectResults: true },
  );
  return result.resultItems.reduce((sum, r) => sum + Number(r.first().get('n')), 0);
}

/**
 * ensureEventLogTopics, again on failure: on a loaded machine the broker can take longer to host a new
 * topic's partitions than kafkajs's metadata retries wait. A second call finds the topics created.
 */
export async function ensureTopics(...args: Parameters<typeof ensureEventLogTopics>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureEventLogTopics(...args);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 2_000 * attempt));
    }
  }
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
