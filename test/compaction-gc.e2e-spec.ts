import { Client } from 'cassandra-driver';
import { CompactionOutcome, CompactionStep, ProfileCompactor } from '@vh/compaction';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';
import { AppProcess } from './support/app-process';
import { syntheticHistory } from './support/event-log';
import { getJson } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const DAY = 86_400_000;
const GRACE_MS = 1_000;

/**
 * Issue 11 §4: a worker that stalls past its lock (its job taken over, or garbage collection running
 * meanwhile) must never switch a profile to a chunk set that was collected as an orphan.
 */
describe('compaction: garbage collection against a stalled worker', () => {
  let environment: TestEnvironment;
  let api: AppProcess;
  let auth: TestTokens;
  let client: Client;
  let live: LiveHistoryRepository;
  let compressed: CompressedHistoryRepository;

  const keyspace = () => environment.config.cassandra.keyspace;
  const chunkSets = async (profileId: string) =>
    (
      await environment.cassandra.execute(
        `SELECT chunk_set FROM ${keyspace()}.compressed_history_chunk_sets WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).rows.length;

  /** The whole history as a client sees it; throws on anything but 200. */
  async function history(profileId: string): Promise<unknown[]> {
    const { status, body } = await getJson(`${api.url}/v1/profiles/${profileId}/history?limit=200`, auth.recommender);
    if (status !== 200) throw new Error(`history of ${profileId} answered ${status}: ${JSON.stringify(body)}`);
    return body.records;
  }

  async function oldHistory(sessions: number): Promise<string> {
    const events = syntheticHistory(1, sessions, Date.now() - 30 * DAY);
    expect(await live.append(events)).toEqual([]);
    return events[0].profileId;
  }

  /** A worker that stops at `step` until released: a process that stalled past its lock. */
  function stalledAt(profileId: string, at: CompactionStep) {
    let reached!: () => void;
    let release!: () => void;
    const atStep = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const outcome: Promise<CompactionOutcome> = new ProfileCompactor(live, compressed, environment.config).compact(
      profileId,
      {
        onStep: async (step) => {
          if (step !== at) return;
          reached();
          await released;
        },
      },
    );
    const stalled = Promise.race([
      atStep,
      outcome.then((o) => Promise.reject(new Error(`finished (${o.status}) without reaching ${at}`))),
    ]);
    return { atStep: stalled, release, outcome };
  }

  /** Garbage collection as a later job runs it, on a clock far past every grace period. */
  async function collectLater(profileId: string): Promise<number> {
    return (await compressed.collectGarbage(profileId, Date.now() + 10 * GRACE_MS)).removed;
  }

  beforeAll(async () => {
    environment = await createTestEnvironment('compaction_gc', { COMPACTION_GRACE_MS: String(GRACE_MS) });
    auth = await testTokens();
    client = createCassandraClient(environment.config.cassandra, 'stalled-worker');
    live = new LiveHistoryRepository(client, environment.config, new ProfileActivityIndex(client, environment.config));
    compressed = new CompressedHistoryRepository(client, environment.config);
    api = await AppProcess.start('api', environment.env);
  });

  afterAll(async () => {
    await api?.stop();
    await client?.shutdown();
    await environment?.dispose();
  });

  it('a worker stalled after writing its chunks, collected meanwhile, still leaves a readable history', async () => {
    const profileId = await oldHistory(40);
    const before = await history(profileId);
    expect(before).toHaveLength(40);

    const stalled = stalledAt(profileId, 'after-chunks');
    await stalled.atStep;
    await collectLater(profileId); // no version yet: the stalled worker's chunk set looks like an orphan
    stalled.release();
    expect((await stalled.outcome).status).toBe('compacted');

    expect(await history(profileId)).toEqual(before);
    expect(await chunkSets(profileId)).toBe(1);
  });

  it('a worker stalled after writing its chunks, whose job was taken over, loses and leaves one version', async () => {
    const profileId = await oldHistory(30);
    const before = await history(profileId);

    const stalled = stalledAt(profileId, 'after-chunks');
    await stalled.atStep;
    const takeover = await new ProfileCompactor(live, compressed, environment.config).compact(profileId);
    expect(takeover).toMatchObject({ status: 'compacted', toVersion: 1 });
    // Written for version 1, which is now someone else's: unreachable for good, so removed.
    expect(await collectLater(profileId)).toBe(1);
    stalled.release();
    expect((await stalled.outcome).status).toBe('lost-race');

    expect(await history(profileId)).toEqual(before);
    expect(await chunkSets(profileId)).toBe(1);
    expect((await compressed.readVersion(profileId))?.version).toBe(1);
  });

  it('a worker stalled on an older version, while later versions were switched and collected, cannot win', async () => {
    const profileId = await oldHistory(20);
    const before = await history(profileId);
    // Version 1 as of 12 days ago (cutoff 26 days ago), so that history 20 days old is still to roll up.
    const first = await new ProfileCompactor(live, compressed, environment.config).compact(profileId, {
      now: Date.now() - 12 * DAY,
    });
    expect(first.status).toBe('compacted');
    // More old history: version 2 is due. One worker stalls on it; another does it, and then version 3.
    const more = syntheticHistory(1, 5, Date.now() - 20 * DAY).map((e) => ({ ...e, profileId }));
    expect(await live.append(more)).toEqual([]);
    const stalled = stalledAt(profileId, 'after-chunks');
    await stalled.atStep;
    expect((await new ProfileCompactor(live, compressed, environment.config).compact(profileId)).toVersion).toBe(2);
    await collectLater(profileId);
    stalled.release();
    expect((await stalled.outcome).status).toBe('lost-race');
    const after = await history(profileId);
    expect(after).toHaveLength(before.length + 5);
    await collectLater(profileId);
    expect(await chunkSets(profileId)).toBe(1);
    expect(await history(profileId)).toEqual(after);
  });

  it('a worker killed between the switch and marking the old version superseded: readers keep the old chunks for the grace, then they are collected', async () => {
    const profileId = await oldHistory(20);
    const first = await new ProfileCompactor(live, compressed, environment.config).compact(profileId, {
      now: Date.now() - 12 * DAY,
    });
    expect(first.status).toBe('compacted');
    const more = syntheticHistory(1, 5, Date.now() - 20 * DAY).map((e) => ({ ...e, profileId }));
    expect(await live.append(more)).toEqual([]);
    const before = await history(profileId);
    // Version 1's chunk set is now older than twice the grace: only its superseded mark protects it.
    await new Promise((r) => setTimeout(r, 3 * GRACE_MS));
    // A reader holds version 1's metadata, read just before the switch.
    const held = (await compressed.readVersion(profileId))!;
    expect(held.version).toBe(1);

    // The worker dies right after the switch (COMPACTION_FAIL_POINT=after-switch): version 1 is never marked.
    const killed = new ProfileCompactor(live, compressed, environment.config).compact(profileId, {
      onStep: (step) => {
        if (step === 'after-switch') throw new Error('killed after the switch');
      },
    });
    await expect(killed).rejects.toThrow('killed after the switch');
    expect((await compressed.readVersion(profileId))?.version).toBe(2);

    // The job runs again at once, as a stalled job is taken over: its garbage collection must spare version 1.
    const retry = await new ProfileCompactor(live, compressed, environment.config).compact(profileId);
    expect(await chunkSets(profileId)).toBe(2);
    expect(retry).toMatchObject({ status: 'up-to-date', fromVersion: 2, garbageChunkSetsWaiting: 1 });
    const chunk = await environment.cassandra.execute(
      `SELECT chunk_index FROM ${keyspace()}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index IN ?`,
      [profileId, held.chunkSet, Array.from({ length: held.chunkCount }, (_, i) => i)],
      { prepare: true },
    );
    expect(chunk.rows).toHaveLength(held.chunkCount);
    expect(await history(profileId)).toEqual(before);

    // Once the grace has passed since the crash was noticed, the next collection removes it: no leak.
    expect((await compressed.collectGarbage(profileId, Date.now() + 2 * GRACE_MS)).removed).toBe(1);
    expect(await chunkSets(profileId)).toBe(1);
    expect(await history(profileId)).toEqual(before);
  });
});
