import { CapacityFigures } from './capacity-model';
import { assumed, Figure, measured } from './figure';

/** The parsed files of bench/results the model reads, by file name (`ingest.json`, ...). */
export type BenchResults = Record<string, unknown>;

/** The files the figures come from; the command reads exactly these. */
export const BENCH_FILES = [
  'ingest.json',
  'collector.json',
  'mixed.json',
  'storage.json',
  'compaction.json',
  'erasure.json',
] as const;

/**
 * Session trails (ADR 6) landed at this time (commit 2e7a99f): a storage run before it measured compressed
 * history without them, so their bytes are added from the ADR's figure.
 */
export const TRAILS_SINCE = '2026-11-26T13:06:35Z';

export class BenchFigureError extends Error {}

function at(results: BenchResults, file: string, path: string): unknown {
  let value: unknown = results[file];
  if (value === undefined) throw new BenchFigureError(`bench/results/${file} is missing`);
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A number the file must have: a missing one means the file is not what the model was written for. */
function num(results: BenchResults, file: string, path: string): number {
  const value = at(results, file, path);
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new BenchFigureError(`bench/results/${file} ${path} is not a number (${JSON.stringify(value)})`);
  return value;
}

function when(results: BenchResults, file: string): string {
  const generatedAt = at(results, file, 'generatedAt');
  return typeof generatedAt === 'string' ? generatedAt.slice(0, 10) : 'date not recorded in the file';
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** `bench/results/ingest.json profile.ingestCpuMicrosPerEvent = 42.4 (2026-11-26)` */
function direct(results: BenchResults, file: string, path: string, unit: string): Figure {
  const value = num(results, file, path);
  return measured(value, unit, `bench/results/${file} ${path} = ${value} (${when(results, file)})`);
}

/**
 * A Kafka record around a sealed event, not measured: the key (a UUID-sized profile id, 36), the header
 * x-request-id (50: the collector puts its request's id on every message of the request) and the varint framing
 * (about 5). Uncompressed: the batch of sealed events is not gzipped.
 */
const KAFKA_RECORD_BYTES = 91;

/**
 * The model's figures from the benchmark results: each measured figure cites its file, field(s), value
 * and date; a figure no run measured is an assumption that says why.
 */
export function benchFigures(results: BenchResults): CapacityFigures {
  const sealing = (path: string) => {
    const sealed = num(results, 'erasure.json', `${path}.sealed`);
    const plain = num(results, 'erasure.json', `${path}.plain`);
    return measured(
      round(sealed - plain),
      'µs',
      `bench/results/erasure.json ${path}.sealed - .plain = ${sealed} - ${plain} (${when(results, 'erasure.json')})`,
    );
  };
  // The mixed load at its sustainable level: the API serves only the reads (writes go to the collector).
  const reads = num(results, 'mixed.json', 'sustainable.reads');
  const perRead = (process: 'api' | 'cassandra') => {
    const cpuSeconds = num(results, 'mixed.json', `sustainable.cpu.${process}`);
    return measured(
      round((cpuSeconds / reads) * 1e6, 1),
      'µs',
      `bench/results/mixed.json sustainable.cpu.${process} / sustainable.reads = ${cpuSeconds} s / ${reads} ` +
        `(${when(results, 'mixed.json')})`,
    );
  };
  const cassandraPerRead = perRead('cassandra');
  const cassandraWrite = at(results, 'ingest.json', 'profile.cassandraCpuMicrosPerEventEndToEnd');
  const cassandraCpuMicrosPerWrite =
    typeof cassandraWrite === 'number'
      ? direct(results, 'ingest.json', 'profile.cassandraCpuMicrosPerEventEndToEnd', 'µs')
      : assumed(
          23,
          'µs',
          `bench/results/ingest.json profile.cassandraCpuMicrosPerEventEndToEnd is null in the run of ` +
            `${when(results, 'ingest.json')} (Cassandra's process not measured); 23 is that field in the last ` +
            `run that measured it (2026-11-24T19:32, commit a175cd3; 13-23 over that day's runs)`,
        );
  const liveBytes = num(results, 'storage.json', 'liveBytes');
  const events = num(results, 'storage.json', 'parameters.events');
  const records = num(results, 'storage.json', 'parameters.records');
  const storageAt = at(results, 'storage.json', 'generatedAt');
  const beforeTrails = typeof storageAt !== 'string' || storageAt < TRAILS_SINCE;
  const compressed = direct(results, 'storage.json', 'bytesPerRecord.compressed', 'bytes');
  const compaction = direct(results, 'compaction.json', 'recordsPerSecond', 'records/s');
  const recordsPerProfile = round(
    num(results, 'compaction.json', 'parameters.records') / num(results, 'compaction.json', 'parameters.profiles'),
  );
  return {
    collectorCpuMicrosPerEvent: direct(results, 'collector.json', 'collectorCpuMicrosPerEvent', 'µs'),
    collectorSealingCpuMicrosPerEvent: sealing('collectorCpuMicrosPerEvent'),
    ingestCpuMicrosPerEvent: direct(results, 'ingest.json', 'profile.ingestCpuMicrosPerEvent', 'µs'),
    ingestSealingCpuMicrosPerEvent: sealing('ingestDecodeCpuMicrosPerEvent'),
    apiCpuMicrosPerRead: perRead('api'),
    cassandraCpuMicrosPerWrite,
    cassandraCpuMicrosPerRead: {
      ...cassandraPerRead,
      source: `${cassandraPerRead.source}; includes the level's writes (1 per 9 reads, ~1% of it)`,
    },
    liveBytesPerEvent: measured(
      round(liveBytes / events),
      'bytes',
      `bench/results/storage.json liveBytes / parameters.events = ${liveBytes} / ${events} ` +
        `(${when(results, 'storage.json')})`,
    ),
    compressedBytesPerRecord: {
      ...compressed,
      source: `${compressed.source}; ${beforeTrails ? 'before session trails' : 'session trails included'}`,
    },
    trailBytesPerEvent: beforeTrails
      ? assumed(
          22,
          'bytes',
          `docs/adr/0006-session-trails.md: "about 22 bytes per event of trail" (measured by the change's ` +
            `author, not in bench/results); storage.json (${when(results, 'storage.json')}) predates trails`,
        )
      : measured(0, 'bytes', `included in bench/results/storage.json bytesPerRecord.compressed`),
    eventsPerRecord: measured(
      round(events / records),
      'events',
      `bench/results/storage.json parameters.events / parameters.records = ${events} / ${records} ` +
        `(${when(results, 'storage.json')}; the benchmark's synthetic sessions)`,
    ),
    logBytesPerEvent: assumed(
      num(results, 'erasure.json', 'messageBytes.sealed') + KAFKA_RECORD_BYTES,
      'bytes',
      `bench/results/erasure.json messageBytes.sealed = ${num(results, 'erasure.json', 'messageBytes.sealed')} ` +
        `bytes (the binary sealed form, sent uncompressed: ciphertext does not shrink; docs/event-log.md) + ` +
        `${KAFKA_RECORD_BYTES} bytes of Kafka record (a 36-byte profile id as key, the x-request-id header 50, ` +
        `framing ~5), not measured. Plain events: 56-59 bytes gzipped (BENCHMARKS.md, codec)`,
    ),
    compactionRecordsPerSecond: {
      ...compaction,
      source: `${compaction.source}; one process, one job at a time, profiles of ${recordsPerProfile} records`,
    },
  };
}
