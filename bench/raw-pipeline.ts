import { Client } from 'cassandra-driver';
import { Kafka } from 'kafkajs';
import { ViewingEvent } from '@vh/domain';
import { LiveHistoryRepository } from '@vh/storage';

export interface RawPipelineRun {
  /** Messages consumed and written. */
  events: number;
  seconds: number;
  /** CPU of this process over the same time (from the group's join). */
  cpuSeconds: number;
}

/**
 * The fair ceiling of ingest (issue 14): the same topic consumed by the least pipeline the same libraries
 * allow (run in a process of its own by the benchmark: bench/raw-pipeline.process.ts). kafkajs eachBatch, JSON.parse, one unlogged batch of at most 20 rows per
 * profile (the same statement and bound values as ingest, the acceptance time too), `writeConcurrency` in flight, offsets resolved
 * and committed only after the writes. No Nest, no validation, no metrics, no dead letters, no activity
 * index. Runs until the group's committed offsets reach `end`.
 */
export async function rawPipeline(
  kafka: Kafka,
  client: Client,
  live: LiveHistoryRepository,
  options: { topic: string; groupId: string; end: number; writeConcurrency: number; partitionsConcurrently: number },
): Promise<RawPipelineRun> {
  const consumer = kafka.consumer({ groupId: options.groupId, maxBytesPerPartition: 1_048_576, maxWaitTimeInMs: 250 });
  // The clock starts when the group is joined, as ingest's replay is timed from a stable group.
  let committed = 0;
  let started = 0;
  let cpuAtJoin = process.cpuUsage();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (started) return;
    started = performance.now();
    cpuAtJoin = process.cpuUsage();
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  await consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: true,
    partitionsConsumedConcurrently: options.partitionsConcurrently,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
      if (batch.messages.length === 0) return;
      await writeRows(client, live, rowsByProfile(batch.messages), options.writeConcurrency);
      resolveOffset(batch.messages[batch.messages.length - 1].offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
      committed += batch.messages.length;
      if (committed >= options.end) finish();
    },
  });
  await done;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtJoin);
  await consumer.disconnect();
  return { events: committed, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** The least pipeline's reading of messages: JSON.parse and the two instants, lists of at most 20 rows a profile. */
export function rowsByProfile(messages: readonly { value: Buffer | null; timestamp: string }[]): ViewingEvent[][] {
  const groups = new Map<string, ViewingEvent[][]>();
  for (const message of messages) {
    const event = JSON.parse(message.value!.toString('utf8'));
    event.occurredAt = Date.parse(event.occurredAt);
    // As ingest does (its acceptance time, invariant 1): a producer's message without one is accepted when logged.
    event.acceptedAt = event.acceptedAt === undefined ? Number(message.timestamp) : Date.parse(event.acceptedAt);
    let lists = groups.get(event.profileId);
    if (!lists) groups.set(event.profileId, (lists = [[]]));
    if (lists[lists.length - 1].length >= 20) lists.push([]);
    lists[lists.length - 1].push(event);
  }
  return [...groups.values()].flat();
}

/** Each list as one unlogged batch, `concurrency` in flight. */
export async function writeRows(
  client: Client,
  live: LiveHistoryRepository,
  lists: ViewingEvent[][],
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < lists.length) {
      const rows = lists[next++];
      await client.batch(
        rows.map((e) => ({ query: live.insert, params: live.params(e) })),
        { prepare: true, logged: false, isIdempotent: true },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, lists.length) }, worker));
}
