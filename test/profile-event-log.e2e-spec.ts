import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { ProfileEventLog, readProfileEvents } from '@vh/messaging';
import { replayEventLog } from '@vh/ingestion';
import { produceEvents, syntheticHistory } from './support/event-log';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';

/** Long enough for a starved machine, short enough that a read which never ends fails the test. */
const READ_TIMEOUT_MS = 60_000;

/**
 * `cli repair` reads a profile's partition up to the end it had when reading started. Transactional
 * producers (other clients, Kafka Streams, a backfill with exactly-once) leave control records (commit and
 * abort markers) and aborted messages that no consumer is given: a partition that ends with them must end
 * the read too, with exactly the committed events.
 */
describe('reading the event log to its end (repair and replay): partitions that end with transaction markers', () => {
  let environment: TestEnvironment;

  beforeAll(async () => {
    environment = await createTestEnvironment('profile_reader', { EVENT_TOPIC_PARTITIONS: '2' });
  });

  afterAll(async () => {
    await environment?.dispose();
  });

  /** `whileOpen` runs after the send, before the transaction's outcome: the transaction is open meanwhile. */
  async function produceInTransaction(
    events: ViewingEvent[],
    outcome: 'commit' | 'abort',
    whileOpen: () => Promise<void> = async () => undefined,
  ): Promise<void> {
    const producer = environment.kafka.producer({
      transactionalId: `e2e-${randomUUID()}`,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      const transaction = await producer.transaction();
      await transaction.send({
        topic: environment.config.kafka.eventTopic,
        messages: events.map((e) => ({ key: e.profileId, value: encodeViewingEvent(e) })),
      });
      await whileOpen();
      await (outcome === 'commit' ? transaction.commit() : transaction.abort());
    } finally {
      await producer.disconnect();
    }
  }

  const ids = (events: ViewingEvent[]) => events.map((e) => e.eventId).sort();

  it.each(['commit', 'abort'] as const)(
    'ends, with exactly the committed events, when the partition ends with a %s marker',
    async (outcome) => {
      const plain = syntheticHistory(1, 3, Date.now() - 86_400_000);
      const profileId = plain[0].profileId;
      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, plain);
      const transactional = syntheticHistory(1, 2, Date.now() - 3_600_000).map((e) => ({ ...e, profileId }));
      await produceInTransaction(transactional, outcome);

      const log = await readProfileEvents(environment.config, profileId, {
        kafka: environment.kafka,
        timeoutMs: READ_TIMEOUT_MS,
      });
      const expected = outcome === 'commit' ? [...plain, ...transactional] : plain;
      expect(ids(log.events)).toEqual(ids(expected));
      expect(log.undecodable).toBe(0);
    },
  );

  // The admin's end is the last stable offset: it stops before a transaction whose commit the coordinator has
  // acknowledged but whose markers are not yet written (found flaky in session 5: 7 committed events missed).
  // A transaction still open when reading starts is the deterministic form of that window.
  it.each(['commit', 'abort'] as const)(
    'waits for a transaction open when reading starts, and hands over its events only if it commits (%s)',
    async (outcome) => {
      const plain = syntheticHistory(1, 2, Date.now() - 86_400_000);
      const profileId = plain[0].profileId;
      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, plain);
      const transactional = syntheticHistory(1, 2, Date.now() - 3_600_000).map((e) => ({ ...e, profileId }));
      let reading: Promise<ProfileEventLog> | null = null;
      await produceInTransaction(transactional, outcome, async () => {
        reading = readProfileEvents(environment.config, profileId, {
          kafka: environment.kafka,
          timeoutMs: READ_TIMEOUT_MS,
        });
        let ended = false;
        void reading.then(
          () => (ended = true),
          () => (ended = true),
        );
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        expect(ended).toBe(false);
      });
      const log = await reading!;
      expect(ids(log.events)).toEqual(ids(outcome === 'commit' ? [...plain, ...transactional] : plain));
    },
  );

  it('ends when the last batch it fetches holds nothing but an aborted transaction and its marker', async () => {
    const plain = syntheticHistory(1, 2, Date.now() - 86_400_000);
    const profileId = plain[0].profileId;
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, plain);
    // Several aborted transactions in a row: whole fetches of the tail are filtered out.
    for (let i = 0; i < 3; i++) {
      const aborted = syntheticHistory(1, 1, Date.now() - 3_600_000).map((e) => ({ ...e, profileId }));
      await produceInTransaction(aborted, 'abort');
    }
    const log = await readProfileEvents(environment.config, profileId, {
      kafka: environment.kafka,
      timeoutMs: READ_TIMEOUT_MS,
    });
    expect(ids(log.events)).toEqual(ids(plain));
  });

  // Replay judged its end by the last message it handled: a partition ending with a marker never ended and the
  // replay ran into its deadline; and like the reader above it stopped at the last stable offset.
  it('replays a log whose partitions end with commit markers, with every committed event', async () => {
    const target = await environment.withKeyspace('replay');
    const plain = syntheticHistory(2, 2, Date.now() - 86_400_000);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, plain);
    const transactional = syntheticHistory(2, 2, Date.now() - 3_600_000);
    await produceInTransaction(transactional, 'commit');
    const report = await replayEventLog(target.config, { force: true, timeoutMs: READ_TIMEOUT_MS });
    const rows = await target.cassandra.execute(
      `SELECT event_id FROM ${target.config.cassandra.keyspace}.live_history`,
    );
    const written = new Set(rows.rows.map((r) => String(r.get('event_id'))));
    for (const e of [...plain, ...transactional]) expect(written).toContain(e.eventId);
    expect(report.unprocessable).toBe(0);
  });
});
