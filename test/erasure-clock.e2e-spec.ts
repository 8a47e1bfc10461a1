import { randomUUID } from 'node:crypto';
import { KafkaMessage } from 'kafkajs';
import { Client, types } from 'cassandra-driver';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { ProfileHistoryRebuild } from '@vh/compaction';
import { LiveHistoryIngestor, ProfileHistoryEraser } from '@vh/ingestion';
import { DeadLetter, DeadLetterSink, EventLogOpener, LogMessage, OpenedMessage, openPlaintext } from '@vh/messaging';
import {
  CompressedHistoryRepository,
  dayOf,
  LiveHistoryRepository,
  ProfileActivityIndex,
  shardOf,
  StoredHistoryEraser,
} from '@vh/storage';
import { playEvent } from './support/playback-events';
import { openStores, Stores } from './support/stores';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';

const MINUTE = 60_000;
const MARK = 'MARK';

/** Plain events, and "MARK" for the erasure mark of the message's key (the sealing is not what this tests). */
class MarkingOpener extends EventLogOpener {
  async open(messages: readonly LogMessage[]): Promise<OpenedMessage[]> {
    return messages.map((m) =>
      m.value?.toString() === MARK
        ? { kind: 'profile-erased', profileId: m.key!.toString(), erasureId: 'erasure-1' }
        : openPlaintext(m),
    );
  }
}

/** The real eraser, whose first erasure fails after it deleted everything (a timeout after the writes applied). */
class FailingOnceEraser extends ProfileHistoryEraser {
  failed = false;
  constructor(private readonly eraser: StoredHistoryEraser) {
    super();
  }
  async erase(profileId: string): Promise<{ erasureTombstoneUs: number | null }> {
    const erased = await this.eraser.erase(profileId);
    if (this.failed) return erased;
    this.failed = true;
    throw new Error('timed out (the writes applied)');
  }
  forgetRemembered(): void {
    this.eraser.forgetRemembered();
  }
  erasureTombstonesAhead(): Promise<ReadonlyMap<string, number>> {
    return this.eraser.erasureTombstonesAhead();
  }
}

class NoDeadLetters extends DeadLetterSink {
  async publish(letters: readonly DeadLetter[]): Promise<void> {
    throw new Error(`unexpected dead letters: ${letters.map((l) => l.reason).join('; ')}`);
  }
}

/**
 * Invariants 2 and 6: ingest erases a profile at its erasure's mark with a tombstone dated at the newest write
 * time it reads. When a batch is processed again after a crash on another host (the partition moved), that
 * newest row may be one the dead host wrote after the mark with its clock ahead of this one's: the events after
 * the mark, written again now, must not be shadowed by that tombstone, nor the next ones.
 */
describe('erasure at the mark, processed again by an ingest host whose clock is behind', () => {
  let environment: TestEnvironment;
  let stores: Stores;
  let ingestor: LiveHistoryIngestor;
  let eraser: StoredHistoryEraser;
  let offset = 0;

  beforeAll(async () => {
    environment = await createTestEnvironment('erasure_clock');
    stores = openStores(environment.config, 'e2e-erasure-clock');
    eraser = new StoredHistoryEraser(
      stores.client,
      environment.config,
      new CompressedHistoryRepository(stores.client, environment.config),
      stores.activity,
    );
    ingestor = new LiveHistoryIngestor(
      stores.live,
      new NoDeadLetters(),
      environment.config,
      new MarkingOpener(),
      eraser,
    );
  });

  afterAll(async () => {
    await stores?.close();
    await environment?.dispose();
  });

  const message = (profileId: string, value: string): KafkaMessage =>
    ({
      key: Buffer.from(profileId),
      value: Buffer.from(value),
      offset: String(offset++),
      timestamp: String(Date.now()),
      headers: {},
    }) as KafkaMessage;

  /**
   * An ingest process on a host whose clock reads `aheadMs` ahead of this one's: its driver dates every write that
   * names no date (a client timestamp, as the driver's own generator would), and its erasure reads that clock.
   */
  const hostAhead = (aheadMs: number) => {
    const dated = (options: Record<string, unknown> = {}) => ({
      ...options,
      timestamp: types.Long.fromNumber(Date.now() + aheadMs).multiply(1000),
    });
    const named = (query: string) => /USING TIMESTAMP/.test(query) || /^SELECT/.test(query);
    const client = new Proxy(stores.client, {
      get(target, prop) {
        if (prop === 'execute')
          return (query: string, params: unknown[], options?: Record<string, unknown>) =>
            target.execute(query, params, named(query) ? options : dated(options));
        if (prop === 'batch')
          return (queries: { query: string }[], options?: Record<string, unknown>) =>
            target.batch(queries, queries.some((q) => named(q.query)) ? options : dated(options));
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Client;
    const activity = new ProfileActivityIndex(client, environment.config);
    // The compressed history's switch is conditional (Paxos dates it): the real client.
    const eraser = new StoredHistoryEraser(client, environment.config, stores.compressed, activity);
    return {
      live: new LiveHistoryRepository(client, environment.config, activity),
      erase: (profileId: string) => eraser.erase(profileId, { now: Date.now() + aheadMs }),
    };
  };

  /** Whether the profile is in the activity index for the day of `occurredAt`, and why the daily sweep visits it. */
  const indexed = async (profileId: string, occurredAt: number) => {
    const ks = environment.config.cassandra.keyspace;
    const shard = shardOf(profileId);
    const activity = await stores.client.execute(
      `SELECT profile_id FROM ${ks}.profile_activity WHERE day = ? AND shard = ? AND profile_id = ?`,
      [types.LocalDate.fromString(dayOf(occurredAt)), shard, profileId],
      { prepare: true },
    );
    const sweep = await stores.client.execute(
      `SELECT reasons FROM ${ks}.profile_auto_delete WHERE shard = ? AND profile_id = ?`,
      [shard, profileId],
      { prepare: true },
    );
    return {
      activity: activity.rowLength === 1,
      dailySweep: (sweep.first()?.get('reasons') as string[] | null | undefined) ?? [],
    };
  };

  /** A settings change that notes its profile for the daily sweep (an auto-delete period). */
  const autoDelete = (profileId: string, at: number): ViewingEvent => ({
    type: 'settings-changed',
    eventId: randomUUID(),
    profileId,
    autoDelete: '18m',
    occurredAt: at,
    acceptedAt: at,
  });

  /** One batch of partition 0, handled by `consumer` (this test's ingest process, or another one). */
  const handleBy = (consumer: LiveHistoryIngestor, messages: KafkaMessage[]) =>
    consumer.handleBatch(
      { topic: 'events', partition: 0, messages, highWatermark: String(offset), lastOffset: String(offset - 1) },
      { heartbeat: async () => undefined, isRunning: () => true },
    );

  const handle = (profileId: string, values: string[]) =>
    handleBy(
      ingestor,
      values.map((v) => message(profileId, v)),
    );

  /**
   * A new profile whose `before` a host a minute ahead wrote (with its index rows) and then erased at the mark;
   * `after` is the event after the mark, not yet written.
   */
  const erasedByHostAhead = async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const [before, after] = [10, 5].map((m) => playEvent(profileId, now - m * MINUTE, now - m * MINUTE));
    const host = hostAhead(MINUTE);
    expect(await host.live.append([before])).toEqual([]);
    await host.erase(profileId);
    return { profileId, now, before, after };
  };

  it('keeps the events after the mark, and the next ones, though the dead host wrote them a minute ahead', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const before = playEvent(profileId, now - 10 * MINUTE, now - 10 * MINUTE);
    const after = playEvent(profileId, now - 5 * MINUTE, now - 5 * MINUTE);
    // The dead host (clock a minute ahead) wrote the batch [before, MARK, after] and died before committing.
    const deadHostClock = now + MINUTE;
    await stores.writeAt(after, deadHostClock); // as the dead host, its clock ahead, wrote it

    // This host processes the same batch again, then the profile's next event.
    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    expect(await handle(profileId, [encoded(before), MARK, encoded(after)])).toEqual({ status: 'done' });
    const next = playEvent(profileId, now - MINUTE, now - MINUTE);
    expect(await handle(profileId, [encoded(next)])).toEqual({ status: 'done' });

    const stored = (await stores.live.readProfile(profileId)).map((e) => e.eventId).sort();
    expect(stored).toEqual([after.eventId, next.eventId].sort());
  });

  it('keeps the events after the mark when the dead host died between its erasure and writing them', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const before = playEvent(profileId, now - 10 * MINUTE, now - 10 * MINUTE);
    const after = playEvent(profileId, now - 5 * MINUTE, now - 5 * MINUTE);
    // The dead host (clock a minute ahead) wrote `before`, erased at the mark, and died: its tombstone, dated at
    // its clock, is no row this host can read.
    await stores.writeAt(before, now + MINUTE);
    await eraser.erase(profileId);

    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    expect(await handle(profileId, [encoded(before), MARK, encoded(after)])).toEqual({ status: 'done' });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([after.eventId]);
  });

  // Review, session 11: the retry of an erasure that failed after its delete reads no row.
  it('keeps the events after the mark when its erasure failed after deleting, and was retried', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const [before, after] = [10, 5].map((m) => playEvent(profileId, now - m * MINUTE, now - m * MINUTE));
    await stores.writeAt(after, now + MINUTE); // the dead host's, its clock ahead
    const retrying = new LiveHistoryIngestor(
      stores.live,
      new NoDeadLetters(),
      environment.config,
      new MarkingOpener(),
      new FailingOnceEraser(eraser),
    );
    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    const batch = [encoded(before), MARK, encoded(after)].map((v) => message(profileId, v));
    const outcome = await handleBy(retrying, batch);
    expect(outcome).toEqual({ status: 'done' });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([after.eventId]);
  });

  // Review, session 11: a second erasure within the skew, its tombstone dated at the rows this host dated ahead.
  it('keeps the events after a second erasure made while its rows are still dated ahead of its clock', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const [before, after, second] = [10, 5, 2].map((m) => playEvent(profileId, now - m * MINUTE, now - m * MINUTE));
    await stores.writeAt(after, now + MINUTE);
    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    expect(await handle(profileId, [encoded(before), MARK, encoded(after)])).toEqual({ status: 'done' });

    await eraser.erase(profileId, { indexRows: false }); // the API's, at once, before its mark
    expect(await handle(profileId, [MARK, encoded(second)])).toEqual({ status: 'done' });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([second.eventId]);
  });

  // Review, session 11: the record keeps the newest tombstone whatever the order its writes land in.
  it('keeps the newest tombstone on record, even when an older one is recorded after it', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    await stores.writeAt(playEvent(profileId, now - 10 * MINUTE), now + MINUTE); // a host a minute ahead
    expect((await eraser.erase(profileId)).erasureTombstoneUs).toBe((now + MINUTE) * 1000);
    // Stalled erasures that had read older rows record their dates late, as the eraser writes them: one in its
    // own hour, one in the same hour as the newest (a cell dated by its value: the newest wins).
    for (const olderMs of [now - 2 * 3_600_000, now + MINUTE - 1]) {
      const olderUs = types.Long.fromNumber(olderMs * 1000);
      await stores.client.execute(
        `UPDATE ${environment.config.cassandra.keyspace}.live_erasure_tombstones USING TIMESTAMP ? SET tombstone_us = ? WHERE hour = ? AND profile_id = ?`,
        [olderUs, olderUs, types.Long.fromNumber(Math.floor(olderMs / 3_600_000)), profileId],
        { prepare: true },
      );
    }
    // An erasure that reads no row (they are hidden) learns the newest from the record.
    expect((await eraser.erase(profileId)).erasureTombstoneUs).toBe((now + MINUTE) * 1000);
  });

  // Review, session 11: the memory of the tombstone was this process's; a rebalance within the skew lost it.
  it("keeps the profile's next events written by the partition's next owner, whose clock is behind too", async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    const [before, after, next] = [10, 5, 1].map((m) => playEvent(profileId, now - m * MINUTE, now - m * MINUTE));
    await stores.writeAt(after, now + MINUTE); // the dead host's, its clock ahead
    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    expect(await handle(profileId, [encoded(before), MARK, encoded(after)])).toEqual({ status: 'done' });

    // The partition moves (a rebalance) to another process, which never meets that mark.
    const nextOwner = new LiveHistoryIngestor(
      stores.live,
      new NoDeadLetters(),
      environment.config,
      new MarkingOpener(),
      eraser,
    );
    nextOwner.onAssignmentChange();
    const outcome = await handleBy(nextOwner, [message(profileId, encoded(next))]);
    expect(outcome).toEqual({ status: 'done' });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId).sort()).toEqual(
      [after.eventId, next.eventId].sort(),
    );
  });

  // Review, session 11: `cli repair` wrote its live rows at its own clock.
  it('keeps the live rows a repair writes right after an erasure whose tombstone is ahead of its clock', async () => {
    const profileId = `erased-${randomUUID()}`;
    const now = Date.now();
    await stores.writeAt(playEvent(profileId, now - 10 * MINUTE), now + MINUTE); // a host a minute ahead
    await eraser.erase(profileId);
    const after = playEvent(profileId, now - 5 * MINUTE, now - 5 * MINUTE);
    const rebuild = new ProfileHistoryRebuild(stores.live, stores.compressed, environment.config, eraser);
    await rebuild.rebuild(profileId, [after], now);
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([after.eventId]);
  });

  // ADR 9 known gap (session 11), closed in session 12: the activity-index rows hold only key columns, so their
  // delete was dated by the erasing host's clock and the rows written after it by the writer's; a host ahead that
  // erased and died hid the profile's new history from the daily sweep and the export's walk (invariant 4).
  it('keeps the index rows of the events after the mark when the dead host erased them with its clock ahead', async () => {
    // The dead host (clock a minute ahead) wrote `before` and its index rows, erased at the mark, and died.
    const { profileId, now, before, after } = await erasedByHostAhead();
    const setting = autoDelete(profileId, now - 4 * MINUTE);

    const encoded = (e: ViewingEvent) => encodeViewingEvent(e);
    expect(await handle(profileId, [encoded(before), MARK, encoded(after), encoded(setting)])).toEqual({
      status: 'done',
    });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId).sort()).toEqual(
      [after.eventId, setting.eventId].sort(),
    );
    expect(await indexed(profileId, after.occurredAt)).toEqual({ activity: true, dailySweep: ['auto-delete'] });
  });

  it("keeps the index rows the partition's next owner writes after a host ahead erased the profile and left", async () => {
    // A host a minute ahead wrote `before`, erased at the mark and committed; then its partitions moved.
    const { profileId, after } = await erasedByHostAhead();

    const activity = new ProfileActivityIndex(stores.client, environment.config);
    const nextOwner = new LiveHistoryIngestor(
      new LiveHistoryRepository(stores.client, environment.config, activity),
      new NoDeadLetters(),
      environment.config,
      new MarkingOpener(),
      new StoredHistoryEraser(stores.client, environment.config, stores.compressed, activity),
    );
    nextOwner.onAssignmentChange();
    // A profile of the same shard in the same batch: its index row, undated, goes in the same unlogged batch of
    // the (day, shard) partition as the erased profile's, dated (review, session 12: a shape no other case writes).
    let neighbour = `neighbour-${randomUUID()}`;
    while (shardOf(neighbour) !== shardOf(profileId)) neighbour = `neighbour-${randomUUID()}`;
    const neighbours = playEvent(neighbour, after.occurredAt, after.occurredAt);
    const outcome = await handleBy(nextOwner, [
      message(profileId, encodeViewingEvent(after)),
      message(neighbour, encodeViewingEvent(neighbours)),
    ]);
    expect(outcome).toEqual({ status: 'done' });
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([after.eventId]);
    expect((await indexed(profileId, after.occurredAt)).activity).toBe(true);
    expect((await indexed(neighbour, neighbours.occurredAt)).activity).toBe(true);
  });

  it('keeps the index rows a repair writes right after a host ahead erased the profile', async () => {
    const { profileId, now, after } = await erasedByHostAhead();

    const rebuild = new ProfileHistoryRebuild(stores.live, stores.compressed, environment.config, eraser);
    await rebuild.rebuild(profileId, [after], now);
    expect((await stores.live.readProfile(profileId)).map((e) => e.eventId)).toEqual([after.eventId]);
    expect((await indexed(profileId, after.occurredAt)).activity).toBe(true);
  });
});
