import { randomUUID } from 'node:crypto';
import { Client } from 'cassandra-driver';
import { foldHistory, PlaybackEvent } from '@vh/domain';
import { CompressedHistoryRepository, LiveHistoryRepository } from '@vh/storage';
import { Job } from 'bullmq';
import { CompactionOutcome, createCompactionQueue, enqueueProfileCompaction } from '@vh/compaction';
import { AppStack } from './support/app-stack';
import { cellsRead } from './support/cassandra-trace';
import { eventually } from './support/eventually';
import { getJson, playEvent } from './support/playback-events';
import { testTokens } from './support/tokens';
import { openStores, Stores } from './support/stores';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/**
 * Invariants 2 and 6: the range delete of rolled-up live rows must not be dated by the compactor's clock.
 * Here the ingest host's clock is an hour behind the compactor's (rows written USING TIMESTAMP of that
 * clock): a late row written after the compactor's read must survive the delete.
 */
describe('live range delete: the compactor clock ahead of the ingest clock', () => {
  let environment: TestEnvironment;
  let stores: Stores;
  let client: Client;
  let live: LiveHistoryRepository;
  let compressed: CompressedHistoryRepository;

  beforeAll(async () => {
    environment = await createTestEnvironment('live_delete_clock', {
      // The production margin: the suite dates rows around it (the shared set-up sets 0).
      COMPACTION_DELETE_MARGIN_MS: String(10 * 60_000),
    });
    stores = openStores(environment.config, 'e2e-live-delete-clock');
    ({ client, live, compressed } = stores);
  });

  afterAll(async () => {
    await stores?.close();
    await environment?.dispose();
  });

  it('keeps a late row written after the read, even though it is older than the compactor clock minus the margin', async () => {
    expect(environment.config.compaction.deleteMarginMs).toBe(10 * 60_000);
    const profileId = `clock-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    // Read by the compactor: two rows written well before the newest (under the range tombstone) and the
    // newest (above it, so deleted on its own by its key at its own write time).
    const read = [-20, -15, 0].map((minutes, i) => ({
      event: playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
      writtenAt: ingestClock + minutes * 60_000,
    }));
    for (const { event, writtenAt } of read) await stores.writeAt(event, writtenAt);
    const late = playEvent(profileId, Date.now() - 29 * DAY);

    const outcome = await stores.compactor().compact(profileId, {
      onStep: async (step) => {
        // Written after the read, one second after the newest row read (same ingest clock).
        if (step === 'read') await stores.writeAt(late, ingestClock + 1_000);
      },
    });
    expect(outcome).toMatchObject({ status: 'compacted', liveEventsRolledUp: 3 });

    const left = await live.readProfile(profileId);
    expect(left.map((e) => e.eventId)).toEqual([late.eventId]);
  });

  it('removes in the first run read rows all written within the margin, sparing a rewrite and a late row', async () => {
    const profileId = `margin-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    // A quiet profile whose rows were all written within the margin of each other: before the fix every
    // run spared them again (the same newest write time), so tombstones piled up and they never left.
    const read = [-3, -2, -1, 0].map((minutes, i) => ({
      event: playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
      writtenAt: ingestClock + minutes * 60_000,
    }));
    for (const { event, writtenAt } of read) await stores.writeAt(event, writtenAt);
    const late = playEvent(profileId, Date.now() - 29 * DAY);
    const compactor = stores.compactor();

    const first = await compactor.compact(profileId, {
      onStep: async (step) => {
        if (step !== 'read') return;
        // After the read: a late row, and a rewrite of a read row (same key, later write time).
        await stores.writeAt(late, ingestClock + 1_000);
        await stores.writeAt(read[1].event, ingestClock + 2_000);
      },
    });
    expect(first).toMatchObject({ status: 'compacted', liveEventsRolledUp: 4 });
    const afterFirst = await live.readProfile(profileId);
    expect(afterFirst.map((e) => e.eventId).sort()).toEqual([read[1].event.eventId, late.eventId].sort());

    // Nothing new arrives: the next run folds the late row in and removes both rows it read.
    const second = await compactor.compact(profileId);
    expect(second).toMatchObject({ status: 'compacted', lateEvents: 1 });
    expect(await live.readProfile(profileId)).toEqual([]);
    const { history } = await compressed.read(profileId, { useCache: false });
    expect(history.records).toHaveLength(5);
  });

  /** The live partition's rows and tombstones as a reader's query meets them. */
  const livePartition = (profileId: string) =>
    cellsRead(client, `SELECT * FROM ${environment.config.cassandra.keyspace}.live_history WHERE profile_id = ?`, [
      profileId,
    ]);
  /** The history as the read path folds it: the compressed version and the live rows. */
  const readersSee = async (profileId: string) => {
    const { history } = await compressed.read(profileId, { useCache: false });
    return [...foldHistory(await live.readProfile(profileId), history).records.values()].sort((a, b) =>
      a.recordId.localeCompare(b.recordId),
    );
  };

  it('leaves no row tombstones when a large write is compacted within the margin: a follow-up removes its rows with one range tombstone', async () => {
    // A backfill, a restore or a large re-drive, compacted seconds after it was written: every row is within
    // the margin of the newest. A tombstone per row would slow every read of the profile for gc_grace_seconds
    // (10 days), and fail it beyond 100,000 (bench/ANALYSIS.md, 2026-11-27).
    const profileId = `bulk-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    const rows = Array.from({ length: 500 }, (_, i) => ({
      // Accepted long ago (a restore, a re-drive): settled by a compaction that removes their rows.
      event: {
        ...playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
        titleDurationMs: 3_600_000,
        acceptedAt: Date.now() - 100 * DAY,
      },
      writtenAt: ingestClock + i * 100,
    }));
    for (let i = 0; i < rows.length; i += 50)
      await Promise.all(rows.slice(i, i + 50).map(({ event, writtenAt }) => stores.writeAt(event, writtenAt)));
    // A row leaves unwritten the columns its type does not use: a null would be a cell tombstone, 1,000 here.
    expect(await livePartition(profileId)).toEqual({ liveRows: 500, tombstoneCells: 0 });
    const before = await readersSee(profileId);
    expect(before).toHaveLength(500);
    const compactor = stores.compactor();

    const first = await compactor.compact(profileId);
    expect((await livePartition(profileId)).tombstoneCells).toBeLessThan(10);
    // Records whose rows stay keep their trails: settled now, the follow-up would find their rows touching
    // settled records and rebuild them from the log (which lacks them here, and would refuse).
    expect(first).toMatchObject({ status: 'compacted', liveEventsRolledUp: 500, liveRowsLeft: 500, recordsSettled: 0 });
    expect(first.liveRowsLeftThroughUs).toBe((ingestClock + 499 * 100) * 1000);
    expect(await readersSee(profileId)).toEqual(before);

    // Written after the first read by an ingest host a little behind the newest row's: under the follow-up's
    // tombstone, so the follow-up must read and count it (it runs a margin after the first, see the processor).
    const late = playEvent(profileId, Date.now() - 29 * DAY) as PlaybackEvent;
    await stores.writeAt(late, ingestClock + 10_000);
    const second = await compactor.compact(profileId, { liveRowsLeftThroughUs: first.liveRowsLeftThroughUs! });
    expect(second).toMatchObject({
      status: 'compacted',
      lateEvents: 1,
      recordsSettled: 500,
      settledRecordsRebuilt: 0,
      liveRowsLeft: 0,
      liveRowsLeftThroughUs: null,
    });
    expect(await livePartition(profileId)).toEqual({ liveRows: 0, tombstoneCells: expect.any(Number) });
    expect((await livePartition(profileId)).tombstoneCells).toBeLessThan(10);
    const after = await readersSee(profileId);
    expect(after).toHaveLength(501);
    expect(after.filter((r) => r.recordId !== late.playbackSessionId)).toEqual(before);
  });

  it('the compactor app follows a run that left rows with the job that removes them, a margin later', async () => {
    // The compactor's margin shortened to 1.5 s (its follow-up then waits 3 s); the rows are written 1 ms apart.
    const stack = await AppStack.start({ ...environment.env, COMPACTION_DELETE_MARGIN_MS: '1500' }, { compactor: 1 });
    const queue = createCompactionQueue(environment.config);
    try {
      const profileId = `follow-up-${randomUUID()}`;
      const written = Date.now();
      const events = Array.from({ length: 300 }, (_, i) => ({
        ...playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
        titleDurationMs: 3_600_000,
      }));
      await Promise.all(events.map((event, i) => stores.writeAt(event, written + i)));
      const before = await readersSee(profileId);

      const jobId = await enqueueProfileCompaction(queue, { profileId, requestedBy: 'operator' });
      const first = await eventually(async () => {
        const job = await Job.fromId(queue, jobId);
        if (!job?.finishedOn) throw new Error(`job ${jobId} not finished`);
        return job.returnvalue as CompactionOutcome;
      });
      expect(first).toMatchObject({ status: 'compacted', liveEventsRolledUp: 300, liveRowsLeft: 300 });
      const followUps = await queue.getJobs(['delayed', 'waiting', 'active', 'completed']);
      expect(followUps.filter((job) => job.data.requestedBy === 'live-rows-left').map((job) => job.data)).toEqual([
        { profileId, requestedBy: 'live-rows-left', liveRowsLeftThroughUs: (written + 299) * 1000 },
      ]);

      await eventually(async () => expect((await livePartition(profileId)).liveRows).toBe(0), 30_000);
      expect((await livePartition(profileId)).tombstoneCells).toBeLessThan(10);
      expect(await readersSee(profileId)).toEqual(before);
    } finally {
      await queue.close();
      await stack.stop();
    }
  });

  it('a re-drive of rolled-up events within the margin: the up-to-date run leaves its rows, and its follow-up removes them', async () => {
    const profileId = `redrive-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    const events = Array.from({ length: 300 }, (_, i) => ({
      ...playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
      titleDurationMs: 3_600_000,
      acceptedAt: Date.now() - HOUR,
    }));
    const writeAll = (from: number) => Promise.all(events.map((event, i) => stores.writeAt(event, from + i)));
    const compactor = stores.compactor();
    await writeAll(ingestClock);
    const first = await compactor.compact(profileId);
    await compactor.compact(profileId, { liveRowsLeftThroughUs: first.liveRowsLeftThroughUs! });
    const before = await readersSee(profileId);
    expect(before).toHaveLength(300);
    expect((await livePartition(profileId)).liveRows).toBe(0);

    // The same events written again (a re-drive, a replay into the same keyspace): already counted.
    await writeAll(ingestClock + 10_000);
    const again = await compactor.compact(profileId);
    expect(again).toMatchObject({ status: 'up-to-date', leftoverLiveRowsRemoved: 0, liveRowsLeft: 300 });
    expect(again.liveRowsLeftThroughUs).toBe((ingestClock + 10_000 + 299) * 1000);
    // Two range tombstones' bounds a run, no row tombstone.
    expect((await livePartition(profileId)).tombstoneCells).toBeLessThanOrEqual(6);
    expect(await readersSee(profileId)).toEqual(before);

    const followUp = await compactor.compact(profileId, { liveRowsLeftThroughUs: again.liveRowsLeftThroughUs! });
    expect(followUp).toMatchObject({ status: 'up-to-date', leftoverLiveRowsRemoved: 300, liveRowsLeft: 0 });
    expect(await livePartition(profileId)).toMatchObject({ liveRows: 0 });
    expect((await livePartition(profileId)).tombstoneCells).toBeLessThanOrEqual(8);
    expect(await readersSee(profileId)).toEqual(before);
  });

  it('reads ask again for the removal of rows left when theirs was lost, a margin later', async () => {
    const profileId = `lost-removal-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    const events = Array.from({ length: 300 }, (_, i) => ({
      ...playEvent(profileId, Date.now() - 30 * DAY + i * 60_000),
      titleDurationMs: 3_600_000,
    }));
    await Promise.all(events.map((event, i) => stores.writeAt(event, ingestClock + i)));
    // Compacted by a run whose removal job never ran (lost with its Redis, failed, dropped as a duplicate).
    expect(await stores.compactor().compact(profileId)).toMatchObject({ status: 'compacted', liveRowsLeft: 300 });

    // The apps with a margin of 1.5 s: the API's request waits 3 s, the compaction it asks for leaves the rows
    // again (all written within the margin of the newest) and enqueues their removal, 3 s later.
    const env = { ...environment.env, COMPACTION_DELETE_MARGIN_MS: '1500' };
    const stack = await AppStack.start(env, { api: 1, compactor: 1 });
    try {
      const auth = await testTokens();
      const url = `${stack.first('api').url}/v1/profiles/${profileId}/history?limit=100`;
      const { status, body } = await getJson(url, auth.recommender);
      expect(status).toBe(200);
      expect(body.records).toHaveLength(100);
      await eventually(async () => expect((await livePartition(profileId)).liveRows).toBe(0), 60_000, 500);
      expect((await livePartition(profileId)).tombstoneCells).toBeLessThanOrEqual(6);
      expect((await getJson(url, auth.recommender)).body.records).toEqual(body.records);
    } finally {
      await stack.stop();
    }
  });
});
