import { randomUUID } from 'node:crypto';
import { Client, types } from 'cassandra-driver';
import { ProfileCompactor } from '@vh/compaction';
import { ViewingEvent } from '@vh/domain';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';
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
  let client: Client;
  let live: LiveHistoryRepository;
  let compressed: CompressedHistoryRepository;

  beforeAll(async () => {
    environment = await createTestEnvironment('live_delete_clock', {
      // The production margin: the suite dates rows around it (the shared set-up sets 0).
      COMPACTION_DELETE_MARGIN_MS: String(10 * 60_000),
    });
    client = createCassandraClient(environment.config.cassandra, 'e2e-live-delete-clock');
    live = new LiveHistoryRepository(client, environment.config, new ProfileActivityIndex(client, environment.config));
    compressed = new CompressedHistoryRepository(client, environment.config);
  });

  afterAll(async () => {
    await client?.shutdown();
    await environment?.dispose();
  });

  const play = (profileId: string, occurredAt: number): ViewingEvent => ({
    type: 'play',
    eventId: randomUUID(),
    profileId,
    playbackSessionId: randomUUID(),
    titleId: 'title-1',
    deviceId: 'tv',
    positionMs: 0,
    occurredAt,
  });

  /** Writes a live row as an ingest host whose clock reads `writtenAt` would. */
  const writeAt = (event: ViewingEvent, writtenAt: number) =>
    client.execute(live.insertAtWriteTime, [types.Long.fromNumber(writtenAt * 1000), ...live.params(event)], {
      prepare: true,
    });

  it('keeps a late row written after the read, even though it is older than the compactor clock minus the margin', async () => {
    expect(environment.config.compaction.deleteMarginMs).toBe(10 * 60_000);
    const profileId = `clock-${randomUUID()}`;
    const ingestClock = Date.now() - HOUR;
    // Read by the compactor: two rows written well before the newest (under the range tombstone) and the
    // newest (above it, so deleted on its own by its key at its own write time).
    const read = [-20, -15, 0].map((minutes, i) => ({
      event: play(profileId, Date.now() - 30 * DAY + i * 60_000),
      writtenAt: ingestClock + minutes * 60_000,
    }));
    for (const { event, writtenAt } of read) await writeAt(event, writtenAt);
    const late = play(profileId, Date.now() - 29 * DAY);

    const outcome = await new ProfileCompactor(live, compressed, environment.config).compact(profileId, {
      onStep: async (step) => {
        // Written after the read, one second after the newest row read (same ingest clock).
        if (step === 'read') await writeAt(late, ingestClock + 1_000);
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
      event: play(profileId, Date.now() - 30 * DAY + i * 60_000),
      writtenAt: ingestClock + minutes * 60_000,
    }));
    for (const { event, writtenAt } of read) await writeAt(event, writtenAt);
    const late = play(profileId, Date.now() - 29 * DAY);
    const compactor = new ProfileCompactor(live, compressed, environment.config);

    const first = await compactor.compact(profileId, {
      onStep: async (step) => {
        if (step !== 'read') return;
        // After the read: a late row, and a rewrite of a read row (same key, later write time).
        await writeAt(late, ingestClock + 1_000);
        await writeAt(read[1].event, ingestClock + 2_000);
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
});
