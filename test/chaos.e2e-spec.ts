import { join } from 'node:path';
import { DEFAULT_RESULTS_DIR, DEFAULT_STATE_DIR, runChaos } from './chaos/chaos-run';

/**
 * One short seed of the chaos checker (test/chaos) on every `npm test`: about three minutes of
 * workload with fewer faults, on private Kafka, Cassandra and Redis (never the shared ones). The long
 * runs are `npm run chaos -- --seed S --duration 30m`. A failure prints the seed and the report file.
 */
describe('chaos: a short seeded run against the reference model', () => {
  const seed = Number(process.env.CHAOS_SEED ?? 20261126);

  it(`loses nothing and answers like the model (seed ${seed})`, async () => {
    const report = await runChaos({
      seed,
      durationMs: 150_000,
      profiles: 16,
      workers: 3,
      faults: ['kill-app', 'pause-app', 'kill-cassandra', 'stop-kafka', 'stop-redis'],
      meanFaultGapMs: 35_000,
      meanCompactionGapMs: 25_000,
      compactors: 2,
      // As in production (10 min), a compaction spares the rows of its last margin of writes: backfills
      // compacted at once leave them for a removal job, under the faults.
      deleteMarginMs: 3_000,
      resultsDir: DEFAULT_RESULTS_DIR,
      // Its own ports and state, so that it never meets a long run (`npm run chaos`) on the same machine.
      stateDir: join(DEFAULT_STATE_DIR, '..', 'chaos-ci'),
      ports: {
        kafka: 29092,
        kafkaController: 29093,
        cassandra: 29042,
        cassandraStorage: 27000,
        cassandraJmx: 27199,
        redis: 26379,
      },
      log: () => undefined,
    });
    expect({ seed, summary: report.summary, failure: report.failure, file: report.reportFile }).toEqual({
      seed,
      file: report.reportFile,
      summary: expect.stringContaining(' PASS '),
      failure: null,
    });
  }, 1_500_000);
});
