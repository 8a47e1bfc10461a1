import { createKafka } from '@vh/messaging';
import { createBenchContext } from './bench-context';
import { rawPipeline } from './raw-pipeline';

/**
 * The least pipeline in a process of its own, started fresh as ingest's replay is: run in the benchmark's process
 * it ran on code the ceiling runs had warmed up, while ingest's new process starts cold (its first pass over the
 * replay cost about 6 µs an event more than the next, session 15). Prints its run as one JSON line, then waits
 * for its stdin to close.
 * RAW_PIPELINE_OPTIONS: JSON of { keyspace, topic, groupId, end, writeConcurrency, partitionsConcurrently }.
 */
async function main(): Promise<void> {
  const { keyspace, ...options } = JSON.parse(process.env.RAW_PIPELINE_OPTIONS ?? '{}') as {
    keyspace: string;
    topic: string;
    groupId: string;
    end: number;
    writeConcurrency: number;
    partitionsConcurrently: number;
  };
  const ctx = await createBenchContext(keyspace);
  try {
    const kafka = createKafka({ ...ctx.config.kafka, eventTopic: options.topic }, 'bench-raw-pipeline');
    const run = await rawPipeline(kafka, ctx.client, ctx.live, options);
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } finally {
    await ctx.close();
  }
  // Alive until the benchmark has read this process's CPU from /proc: it then closes this process's stdin (a
  // signal listener would not hold Node's loop open), as it does when it dies itself.
  process.stdin.on('end', () => process.exit(0)).resume();
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
