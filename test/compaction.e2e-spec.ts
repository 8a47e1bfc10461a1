import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PlaybackEvent, ViewingEvent } from '@vh/domain';
import { LATEST_ZSTD_DICTIONARY } from '@vh/storage';
import { AppProcess } from './support/app-process';
import { AppStack, StackMember } from './support/app-stack';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { getJson, postJson } from './support/playback-events';
import { readExport } from './support/history-export';
import { createTestEnvironment, freePort, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';
import { openStores } from './support/stores';
import { descendantsOf, isRunning } from './support/processes';

const DAY = 86_400_000;
const OLD = Date.now() - 30 * DAY;

describe('compaction: older history rolled into zstd-compressed, chunked, versioned storage', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let api: StackMember;
  let compactor: StackMember;
  let auth: TestTokens;

  const keyspace = () => environment.config.cassandra.keyspace;
  const count = async (table: string, profileId: string) =>
    (
      await environment.cassandra.execute(
        `SELECT count(*) AS n FROM ${keyspace()}.${table} WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    )
      .first()
      .get('n')
      .toNumber();

  /** Everything a client can ask about one profile, in several page sizes. */
  async function readSnapshot(profileId: string, via: { url: string } = api) {
    const walk = async (limit: number, query = '') => {
      const records: unknown[] = [];
      let cursor: string | null = null;
      do {
        const { status, body } = await getJson(
          `${via.url}/v1/profiles/${profileId}/history?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`,
          auth.recommender,
        );
        if (status !== 200) throw new Error(`history answered ${status}: ${JSON.stringify(body)}`);
        records.push(...body.records);
        cursor = body.nextCursor;
      } while (cursor);
      return records;
    };
    return {
      all: await walk(200),
      small: await walk(37),
      title: await walk(50, '&titleId=title-3'),
      window: await walk(
        200,
        `&from=${new Date(OLD + 2 * DAY).toISOString()}&to=${new Date(OLD + 20 * DAY).toISOString()}`,
      ),
      resume: (await getJson(`${via.url}/v1/profiles/${profileId}/continue-watching?limit=200`, auth.recommender)).body
        .records,
    };
  }

  async function ingestOldAndRecent(
    profiles: number,
    sessions: number,
  ): Promise<{ profileIds: string[]; events: PlaybackEvent[] }> {
    const old = syntheticHistory(profiles, sessions, OLD);
    const profileIds = [...new Set(old.map((e) => e.profileId))];
    // Old sessions start 30 days ago; a recent session per profile must stay live.
    const recent = profileIds.flatMap((profileId) =>
      syntheticHistory(1, 1, Date.now() - 3_600_000).map((e) => ({ ...e, profileId })),
    );
    const events = [...old, ...recent];
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    for (const profileId of profileIds) {
      const expected = events.filter((e) => e.profileId === profileId).length;
      await eventually(async () => expect(await count('live_history', profileId)).toBe(expected), 120_000, 500);
    }
    return { profileIds, events };
  }

  async function runJob(body: object): Promise<any> {
    const started = await postJson(`${api.url}/v1/admin/compactions`, body, auth.operator);
    expect(started.status).toBe(202);
    return eventually(
      async () => {
        const { body: job } = await getJson(`${api.url}/v1/admin/compactions/${started.body.jobId}`, auth.operator);
        expect(['completed', 'failed']).toContain(job.state);
        return job;
      },
      120_000,
      300,
    );
  }

  beforeAll(async () => {
    environment = await createTestEnvironment('compaction', {
      COMPACTION_LOCK_MS: '2000',
      COMPACTION_CHUNK_MAX_BYTES: '16384',
      // Operators trigger compaction here; the read-path trigger has a test of its own.
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
      COMPACTION_GRACE_MS: '1000',
      // One host, one clock, and every row is written before a job starts (the tests wait for it): the
      // range delete need not spare recent writes here (late-events.e2e-spec.ts runs with a margin).
      COMPACTION_DELETE_MARGIN_MS: '0',
      // The test data is 30 days old: let the sweep look that far back.
      COMPACTION_SWEEP_DAYS: '20',
    });
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { ingest: 1, api: 1, compactor: 1 });
    [api, compactor] = [stack.first('api'), stack.first('compactor')];
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('compacts profiles with thousands of records; every query answers the same before, during and after', async () => {
    const { profileIds } = await ingestOldAndRecent(2, 600);
    const before = await Promise.all(profileIds.map((p) => readSnapshot(p)));
    expect((before[0].all as unknown[]).length).toBe(601);

    // Reads at every step of one compaction, driven in-process so that each read happens inside its step
    // (the job of the other profile runs meanwhile in the compactor).
    const job = runJob({ profileId: profileIds[1] });
    const stores = openStores(environment.config, 'e2e-compactor');
    const during: Record<string, unknown> = {};
    try {
      const outcome = await stores.compactor().compact(profileIds[0], {
        onStep: async (step) => {
          during[step] = await readSnapshot(profileIds[0]);
        },
      });
      expect(outcome).toMatchObject({ status: 'compacted', toVersion: 1 });
      expect(outcome.chunks).toBeGreaterThan(1); // 16 KiB chunks: this profile needs several
    } finally {
      await stores.close();
    }
    expect(Object.keys(during)).toEqual(['read', 'encoded', 'after-chunks', 'after-switch', 'done']);
    for (const snapshot of Object.values(during)) expect(snapshot).toEqual(before[0]);
    const result = await job;
    expect(result).toMatchObject({ state: 'completed', result: { status: 'compacted', toVersion: 1 } });
    expect(result.result.chunks).toBeGreaterThan(1);

    for (const [i, profileId] of profileIds.entries()) {
      expect(await count('live_history', profileId)).toBeLessThan(10); // only the recent session is left
      expect(await readSnapshot(profileId)).toEqual(before[i]);
    }
    const meta = (
      await environment.cassandra.execute(
        `SELECT * FROM ${keyspace()}.compressed_history WHERE profile_id = ?`,
        [profileIds[0]],
        { prepare: true },
      )
    ).first();
    expect(meta.get('record_count')).toBe(600);
    // Record chunks first, then the session-trail chunks only compaction reads; one checksum each.
    expect(meta.get('trail_chunk_count')).toBeGreaterThan(0);
    expect(meta.get('chunk_checksums')).toHaveLength(meta.get('chunk_count') + meta.get('trail_chunk_count'));
    expect(meta.get('record_encoding')).toBe('vh-columnar-v3');
    expect(meta.get('codec')).toBe('zstd');
    expect(meta.get('dictionary_id')).toBe(LATEST_ZSTD_DICTIONARY); // chunks name the dictionary they need
    expect(Number(meta.get('stored_bytes'))).toBeLessThan(Number(meta.get('raw_bytes')));

    // A second compaction has nothing to do; a dry run changes nothing.
    expect((await runJob({ profileId: profileIds[0] })).result.status).toBe('up-to-date');
    expect((await runJob({ profileId: profileIds[0], dryRun: true })).result.status).toBe('up-to-date');
    expect(await readSnapshot(profileIds[0])).toEqual(before[0]);
  });

  it('reads a large profile with member controls page by page, the same before and after compaction, in every read', async () => {
    const { profileIds, events } = await ingestOldAndRecent(1, 600);
    const [profileId] = profileIds;
    const call = async (method: 'PUT' | 'DELETE', path: string, body?: unknown) => {
      const device = await auth.device(profileId);
      const response = await fetch(`${api.url}/v1/profiles/${profileId}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...device },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(response.status).toBe(202);
    };
    const settled = (check: (records: { recordId: string; titleId: string }[]) => void) =>
      eventually(
        async () => check((await readSnapshot(profileId)).all as { recordId: string; titleId: string }[]),
        60_000,
        500,
      );
    /** Sessions of another producer, accepted by the service `daysAgo` days ago (auto-delete judges that). */
    const acceptedDaysAgo = (daysAgo: number, sessions: number) =>
      syntheticHistory(1, sessions, Date.now() - daysAgo * DAY).map((e) => ({
        ...e,
        profileId,
        acceptedAt: e.occurredAt,
      }));
    const ancient = acceptedDaysAgo(200, 20);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, ancient);

    // Controls: a title removed, auto-delete after 3 months, and sessions put on the log while recording is paused.
    await call('DELETE', '/titles/title-5/history');
    await call('PUT', '/settings', { autoDelete: '3m' });
    await call('PUT', '/settings', { recording: 'paused' });
    await settled((records) => expect(records.some((r) => r.titleId === 'title-5')).toBe(false));
    const paused = syntheticHistory(1, 15, OLD + 3 * DAY).map((e) => ({ ...e, profileId }));
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, paused);
    const stored = events.length + ancient.length + paused.length;
    await eventually(
      async () => expect(await count('live_history', profileId)).toBeGreaterThanOrEqual(stored),
      120_000,
      500,
    );
    await call('PUT', '/settings', { recording: 'on' });

    const hidden = new Set([...ancient, ...paused].map((e) => e.playbackSessionId));
    const removed = new Set(events.filter((e) => e.titleId === 'title-5').map((e) => e.playbackSessionId));
    await settled((records) => {
      expect(records.length).toBe(601 - removed.size);
      expect(records.filter((r) => hidden.has(r.recordId) || removed.has(r.recordId))).toEqual([]);
    });
    const since = new Date(OLD + 10 * DAY).toISOString();
    const everyRead = async () => {
      const batch = await postJson(
        `${api.url}/v1/history:batchGet`,
        { profiles: [{ profileId }, { profileId, since }], limit: 100 },
        auth.recommender,
      );
      expect(batch.status).toBe(200);
      const exported = await readExport(api.url, `since=${since}`, auth.recommender);
      expect(exported.lines.at(-1)).toMatchObject({ type: 'end', failures: 0 });
      return {
        ...(await readSnapshot(profileId)),
        batch: batch.body.results,
        // Positions name the walk's place, not the record: compared without them.
        exported: exported.lines
          .filter((line) => line.profileId === profileId)
          .map(({ position: _position, ...line }) => line),
      };
    };
    const before = await everyRead();
    expect(before.batch[0]).toMatchObject({ truncated: true });
    expect(before.batch[0].records).toHaveLength(100);
    expect(before.exported.length).toBeGreaterThan(100);

    const result = await runJob({ profileId });
    expect(result).toMatchObject({ state: 'completed', result: { status: 'compacted' } });
    const meta = (
      await environment.cassandra.execute(
        `SELECT chunk_count, chunk_index, member_controls FROM ${keyspace()}.compressed_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).first();
    // The version is chunked, indexed and carries the controls: its pages are read chunk by chunk.
    expect(meta.get('chunk_count')).toBeGreaterThan(1);
    expect(meta.get('chunk_index')).not.toBeNull();
    expect(meta.get('member_controls')).not.toBeNull();
    expect(await everyRead()).toEqual(before);
  });

  it('rolls more history into a new version, and removes the superseded chunk set after the grace period', async () => {
    const { profileIds } = await ingestOldAndRecent(1, 30);
    const [profileId] = profileIds;
    const first = await runJob({ profileId });
    expect(first.result).toMatchObject({ status: 'compacted', toVersion: 1 });
    // New sessions just after the first cutoff: live now, old enough for the next compaction a moment later.
    const cutoff = Date.parse(first.result.cutoff);
    const more: PlaybackEvent[] = Array.from({ length: 10 }, (_, i) => ({
      eventId: randomUUID(),
      profileId,
      playbackSessionId: randomUUID(),
      titleId: 'title-late',
      deviceId: 'tv',
      type: 'play',
      positionMs: i,
      occurredAt: cutoff + 100 + i * 50,
    }));
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, more);
    await eventually(async () => expect((await readSnapshot(profileId)).all).toHaveLength(41));
    await new Promise((r) =>
      setTimeout(r, Math.max(0, cutoff + 1_000 - (Date.now() - environment.config.compaction.minAgeMs))),
    );
    const before = await readSnapshot(profileId);

    const dry = await runJob({ profileId, dryRun: true });
    expect(dry.result).toMatchObject({ status: 'dry-run', liveEventsRolledUp: more.length });
    expect(await count('compressed_history_chunk_sets', profileId)).toBe(1);

    expect((await runJob({ profileId })).result).toMatchObject({
      status: 'compacted',
      fromVersion: 1,
      toVersion: 2,
      records: 40,
    });
    expect(await readSnapshot(profileId)).toEqual(before);
    await eventually(async () => expect(await count('compressed_history_chunk_sets', profileId)).toBe(1), 30_000, 300);
    expect(await readSnapshot(profileId)).toEqual(before);
  });

  it.each(['after-chunks', 'after-switch'])(
    'ends with identical reads when the worker is killed %s and the job runs again',
    async (failPoint) => {
      const { profileIds } = await ingestOldAndRecent(1, 300);
      const [profileId] = profileIds;
      const before = await readSnapshot(profileId);

      await compactor.stop();
      await compactor.start({ COMPACTION_FAIL_POINT: failPoint });
      const started = await postJson(`${api.url}/v1/admin/compactions`, { profileId }, auth.operator);
      await compactor.process.exited(); // killed at the fail point, mid-job
      expect(await readSnapshot(profileId)).toEqual(before);

      await compactor.start(); // takes over the stalled job
      const job = await eventually(
        async () => {
          const { body } = await getJson(`${api.url}/v1/admin/compactions/${started.body.jobId}`, auth.operator);
          expect(body.state).toBe('completed');
          return body;
        },
        120_000,
        500,
      );
      if (failPoint === 'after-switch') {
        // The switch happened; the rows the crash left behind were skipped by readers and are removed now.
        expect(job.result).toMatchObject({
          status: 'up-to-date',
          fromVersion: 1,
          leftoverLiveRowsRemoved: expect.any(Number),
        });
        expect(job.result.leftoverLiveRowsRemoved).toBeGreaterThan(1000);
      } else {
        expect(job.result).toMatchObject({ status: 'compacted', toVersion: 1 });
      }
      expect(await count('live_history', profileId)).toBeLessThan(10);
      expect(await readSnapshot(profileId)).toEqual(before);
    },
  );

  it('leaves no sandboxed processor running when the worker alone is killed with SIGKILL', async () => {
    const { profileIds } = await ingestOldAndRecent(1, 50);
    expect((await runJob({ profileId: profileIds[0] })).result).toMatchObject({ status: 'compacted' });
    // The pool keeps the child that ran the job, with its Cassandra and Redis connections open.
    const children = descendantsOf(compactor.pid!);
    expect(children.length).toBeGreaterThan(0);

    await compactor.process.kill(); // `kill -9` of the worker's pid, not of its process group
    // An orphan would go on holding jobs past their lease and burning CPU unseen (one ran 30 min).
    await eventually(async () => expect(children.filter(isRunning)).toEqual([]), 15_000, 200);
    await compactor.start();
  });

  it('leaves one consistent version when two workers race on one profile', async () => {
    const { profileIds } = await ingestOldAndRecent(1, 200);
    const [profileId] = profileIds;
    const before = await readSnapshot(profileId);
    const workers = [0, 1].map(() => openStores(environment.config, 'racer'));
    try {
      // Both read before either writes: a true race on the metadata switch.
      let reads = 0;
      let release: () => void;
      const bothRead = new Promise<void>((resolve) => (release = resolve));
      const onStep = async (step: string) => {
        if (step === 'read' && ++reads === 2) release();
        if (step === 'read') await bothRead;
      };
      const outcomes = await Promise.all(workers.map((w) => w.compactor().compact(profileId, { onStep })));
      expect(outcomes.map((o) => o.status).sort()).toEqual(['compacted', 'lost-race']);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
    expect(await count('compressed_history_chunk_sets', profileId)).toBe(1); // the loser removed its chunks
    const meta = (
      await environment.cassandra.execute(
        `SELECT version FROM ${keyspace()}.compressed_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).first();
    expect(meta.get('version')).toBe(1);
    expect(await readSnapshot(profileId)).toEqual(before);
  });

  it('reports a chunk altered in Cassandra as corrupt, never as an empty history', async () => {
    const { profileIds } = await ingestOldAndRecent(1, 50);
    const [profileId] = profileIds;
    expect((await runJob({ profileId })).result.status).toBe('compacted');
    const meta = (
      await environment.cassandra.execute(
        `SELECT chunk_set FROM ${keyspace()}.compressed_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).first();
    const chunk = (
      await environment.cassandra.execute(
        `SELECT data FROM ${keyspace()}.compressed_history_chunks WHERE profile_id = ? AND chunk_set = ? AND chunk_index = 0`,
        [profileId, meta.get('chunk_set')],
        { prepare: true },
      )
    ).first();
    const data = Buffer.from(chunk.get('data'));
    data[data.length >> 1] ^= 0xff;
    await environment.cassandra.execute(
      `UPDATE ${keyspace()}.compressed_history_chunks SET data = ? WHERE profile_id = ? AND chunk_set = ? AND chunk_index = 0`,
      [data, profileId, meta.get('chunk_set')],
      { prepare: true },
    );

    const fresh = await AppProcess.start('api', {
      ...environment.env,
      API_PORT: String(await freePort()),
    });
    try {
      const { status, body } = await getJson(`${fresh.url}/v1/profiles/${profileId}/history`, auth.recommender);
      expect(status).toBe(500);
      expect(body.error).toBe('corrupt_history');
      expect(fresh.logs).toMatch(/corrupt: chunk 0 .* checksum mismatch/);
      const scraped = await (await fetch(`${fresh.url}/metrics`)).text();
      expect(scraped).toMatch(/^viewing_history_corrupt_chunks_total 1$/m);
    } finally {
      await fresh.stop();
    }
    const again = await runJob({ profileId });
    expect(again.state).toBe('failed');
    expect(again.failedReason).toMatch(/corrupt/);
    expect(again.attemptsMade).toBe(1); // not retried: retrying cannot mend corrupt data
  });

  it('keeps a deleted record deleted after compaction, even when its session goes on', async () => {
    const { profileIds, events } = await ingestOldAndRecent(1, 20);
    const [profileId] = profileIds;
    const victim = events.find((e) => e.profileId === profileId)!.playbackSessionId;
    // Removed long ago (older than the compaction age), so the removal itself is rolled up.
    const removal: ViewingEvent = {
      type: 'record-removed',
      eventId: randomUUID(),
      profileId,
      recordId: victim,
      occurredAt: OLD + 10 * DAY,
    };
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, [removal]);
    await eventually(async () => expect((await readSnapshot(profileId)).all).toHaveLength(20));
    const before = await readSnapshot(profileId);
    expect(before.all.map((r: any) => r.recordId)).not.toContain(victim);

    expect((await runJob({ profileId })).result).toMatchObject({ status: 'compacted', removedRecordIds: 1 });
    expect(await readSnapshot(profileId)).toEqual(before);
    // A late event of the removed session, after compaction: still hidden.
    const late: PlaybackEvent = {
      ...events.find((e) => e.playbackSessionId === victim)!,
      eventId: randomUUID(),
      type: 'play',
      occurredAt: Date.now() - 60_000,
    };
    const liveRows = await count('live_history', profileId);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, [late]);
    await eventually(async () => expect(await count('live_history', profileId)).toBe(liveRows + 1));
    expect(await readSnapshot(profileId)).toEqual(before);
  });

  it('asks for compaction when a read finds a large live partition', async () => {
    const { profileIds } = await ingestOldAndRecent(1, 40);
    const [profileId] = profileIds;
    const eager = await AppProcess.start('api', {
      ...environment.env,
      API_PORT: String(await freePort()),
      COMPACTION_LIVE_EVENTS_TRIGGER: '50',
    });
    try {
      const before = await readSnapshot(profileId, eager);
      await eventually(
        async () => expect(await count('compressed_history_chunk_sets', profileId)).toBe(1),
        60_000,
        300,
      );
      await eventually(async () => expect(await count('live_history', profileId)).toBeLessThan(10), 60_000, 300);
      expect(await readSnapshot(profileId, eager)).toEqual(before);
    } finally {
      await eager.stop();
    }
  });

  it('sweeps the candidates of the activity index, and compacts from the CLI too', async () => {
    const { profileIds } = await ingestOldAndRecent(3, 5);
    const dry = await runJob({ all: true, dryRun: true });
    expect(dry).toMatchObject({ state: 'completed' });
    expect(dry.result.enqueued).toBeGreaterThanOrEqual(3);
    const sweep = await runJob({ profileIds: profileIds.slice(0, 2) });
    expect(sweep).toMatchObject({ state: 'completed', result: { enqueued: 2 } });
    for (const id of sweep.result.jobIds) {
      await eventually(
        async () =>
          expect((await getJson(`${api.url}/v1/admin/compactions/${id}`, auth.operator)).body.state).toBe('completed'),
        60_000,
        300,
      );
    }
    expect(await count('live_history', profileIds[0])).toBeLessThan(10);

    const cli = spawnSync(
      process.execPath,
      [
        '-r',
        join(__dirname, '../scripts/register-paths.js'),
        join(__dirname, '../dist/apps/cli/src/main.js'),
        'compact',
        '--profile',
        profileIds[2],
      ],
      { env: { ...process.env, ...environment.env }, encoding: 'utf8', timeout: 120_000 },
    );
    expect(cli.stderr).not.toMatch(/Error/);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      state: 'completed',
      result: { status: 'compacted', profileId: profileIds[2] },
    });
  });
});
