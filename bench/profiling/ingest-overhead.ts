import { Client } from 'cassandra-driver';
import { KafkaMessage } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { ProfileKeyOpener, ProfileKeys } from '@vh/erasure';
import { LiveHistoryIngestor, ProfileHistoryEraser } from '@vh/ingestion';
import { DeadLetterSink, EventLogBatch } from '@vh/messaging';
import { LiveHistoryRepository, ProfileActivityIndex } from '@vh/storage';
import { InMemoryKeyStore } from '../../libs/erasure/src/testing/in-memory-profile-key-store';
import { syntheticHistory } from '../../test/support/event-log';
import { rowsByProfile, writeRows } from '../raw-pipeline';
import { createBenchContext } from '../bench-context';

/**
 * A short loop for cutting ingest's own cost (issue 14): the CPU a replayed event costs in our code, from the
 * message as kafkajs hands it over to the bound values the driver is given, without Kafka and (unless
 * INGEST_OVERHEAD_CASSANDRA=1) without Cassandra (a client that answers at once, so no driver encoding), both sides
 * warm (the first pass of each is untimed); against the least pipeline's own part of
 * the same work (JSON.parse, grouping by profile, the same bound values). The ratio `ingest_vs_raw_pipeline`
 * depends on this difference; the benchmark's figures move 1.3x from run to run on this machine, this one a few
 * percent. Not a benchmark of record. INGEST_OVERHEAD_ROUNDS sizes it; each side runs alternately, A-B-B-A; run
 * with `node --expose-gc`.
 */
async function main(): Promise<void> {
  const rounds = Number(process.env.INGEST_OVERHEAD_ROUNDS ?? 7);
  const config = loadConfig();
  const events = syntheticHistory(2_000, 10, Date.now() - 3 * 86_400_000) as ViewingEvent[];
  // The replay's batches: by partition (12), about 1 MB each, as kafkajs hands them over.
  const partitions = 12;
  const messages: KafkaMessage[][] = Array.from({ length: partitions }, () => []);
  const now = Date.now();
  events.forEach((event, i) => {
    const partition = hash(event.profileId) % partitions;
    const list = messages[partition];
    list.push({
      key: Buffer.from(event.profileId),
      value: Buffer.from(encodeViewingEvent(event)),
      timestamp: String(now - 60_000 + i),
      offset: String(list.length),
      headers: {},
      attributes: 0,
    } as KafkaMessage);
  });
  const batches: EventLogBatch[] = messages.flatMap((list, partition) =>
    chunk(list, 3_000).map((part) => ({
      topic: 'events',
      partition,
      messages: part,
      highWatermark: String(list.length),
      lastOffset: part[part.length - 1].offset,
    })),
  );
  // INGEST_OVERHEAD_CASSANDRA=1: both sides write to a keyspace of the run's own, the driver's work included.
  const ctx = process.env.INGEST_OVERHEAD_CASSANDRA === '1' ? await createBenchContext() : null;
  const client = ctx?.client ?? answeringClient();
  const activity = new ProfileActivityIndex(client, ctx?.config ?? config);
  const live = new LiveHistoryRepository(client, ctx?.config ?? config, activity);
  const ingestor = new LiveHistoryIngestor(
    live,
    new (class extends DeadLetterSink {
      async publish(): Promise<void> {}
    })(),
    ctx?.config ?? config,
    new ProfileKeyOpener(new ProfileKeys(new InMemoryKeyStore(), config)),
    new NoErasures(),
  );
  const control = { heartbeat: async () => {}, isRunning: () => true };
  const ours = async () => {
    // Every pass writes its activity-index rows, as a fresh replay does (a row written is otherwise remembered).
    activity.forgetAll();
    for (const batch of batches) {
      const outcome = await ingestor.handleBatch(batch, control);
      if (outcome.status !== 'done') throw new Error(`batch not done: ${JSON.stringify(outcome)}`);
    }
  };
  const least = async () => {
    for (const batch of batches)
      await writeRows(client, live, rowsByProfile(batch.messages), (ctx?.config ?? config).ingest.writeConcurrency);
  };
  // With --expose-gc, each side starts from a collected heap: the garbage of one is not collected in the other's turn.
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const timed = async (run: () => Promise<void>) => {
    collect();
    const before = process.cpuUsage();
    await run();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / events.length;
  };
  await ours();
  await least();
  const results: { ours: number[]; least: number[] } = { ours: [], least: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['ours', 'least'] as const) : (['least', 'ours'] as const);
    for (const side of order) results[side].push(await timed(side === 'ours' ? ours : least));
  }
  await ctx?.dispose();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  process.stdout.write(
    `${JSON.stringify({
      events: events.length,
      oursMicrosPerEvent: +median(results.ours).toFixed(2),
      leastMicrosPerEvent: +median(results.least).toFixed(2),
      oursMore: +(median(results.ours) - median(results.least)).toFixed(2),
      rounds: results,
    })}\n`,
  );
}

/** A Cassandra client that answers every write at once, empty: what the loop measures is ours, not the driver. */
function answeringClient(): Client {
  const empty = { rows: [], rowLength: 0, first: () => null };
  return {
    batch: async () => empty,
    execute: async () => empty,
    metadata: { checkSchemaAgreement: async () => true },
  } as unknown as Client;
}

class NoErasures extends ProfileHistoryEraser {
  async erase(): Promise<{ erasureTombstoneUs: number | null }> {
    return { erasureTombstoneUs: null };
  }
  async erasureTombstonesAhead(): Promise<ReadonlyMap<string, number>> {
    return new Map();
  }
  forgetRemembered(): void {}
}

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(h);
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
