import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { foldHistory, PlaybackEvent, visibleRecords } from '@vh/domain';
import { HEADERS } from '@vh/messaging';
import { toView } from '../apps/api/src/history/history-request';
import { AppProcess } from './support/app-process';
import { AppStack, StackMember } from './support/app-stack';
import { produce, produceEvents, readTopic, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, freePort, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const MINUTE = 60_000;

describe('playback events in: collector, event log, ingest, live table', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let collector: StackMember;
  let ingest: StackMember;
  let api: StackMember;
  let auth: TestTokens;

  const history = (profileId: string) =>
    getJson(`${api.url}/v1/profiles/${profileId}/history?limit=200`, auth.recommender).then((r) => r.body.records);
  const liveRowCount = async (profileId: string) =>
    (
      await environment.cassandra.execute(
        `SELECT count(*) AS n FROM ${environment.config.cassandra.keyspace}.live_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    )
      .first()
      .get('n')
      .toNumber();

  beforeAll(async () => {
    environment = await createTestEnvironment('ingest');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1 });
    [collector, ingest, api] = [stack.first('collector'), stack.first('ingest'), stack.first('api')];
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('turns a posted batch into the right viewing records, and posting it again changes nothing', async () => {
    const profileId = uniqueProfileId();
    const now = Date.now() - 60 * MINUTE;
    const first = watchSession(profileId, 'title-a', now);
    const second = watchSession(profileId, 'title-b', now + 30 * MINUTE, 'phone-1');
    const batch = { events: [...first, ...second] };

    const device = await auth.device(profileId);
    const posted = await postJson(`${collector.url}/v1/events`, batch, device);
    expect(posted.status).toBe(202);
    expect(posted.body).toMatchObject({ accepted: 8, rejected: 0 });

    const records = await eventually(async () => {
      const r = await history(profileId);
      expect(r).toHaveLength(2);
      expect(r.map((x: { state: string }) => x.state)).toEqual(['stopped', 'stopped']);
      return r;
    });
    expect(records[0]).toMatchObject({
      recordId: second[0].playbackSessionId,
      titleId: 'title-b',
      deviceId: 'phone-1',
      startedAt: second[0].occurredAt,
      lastEventAt: second[3].occurredAt,
      positionMs: 25 * MINUTE,
      watchedMs: 25 * MINUTE,
      completed: false,
    });
    expect(records[1]).toMatchObject({
      recordId: first[0].playbackSessionId,
      titleId: 'title-a',
      watchedMs: 25 * MINUTE,
    });
    expect(await liveRowCount(profileId)).toBe(8);

    const again = await postJson(`${collector.url}/v1/events`, batch, device);
    expect(again.status).toBe(202);
    // Give ingest time to process the duplicates, then check nothing moved.
    await eventually(async () => expect(await ingestLag(environment)).toBe(0));
    expect(await history(profileId)).toEqual(records);
    expect(await liveRowCount(profileId)).toBe(8);
  });

  it('reports each item of a mixed batch, stores the valid ones, and rejects a bad single event with its fields', async () => {
    const profileId = uniqueProfileId();
    const [play] = watchSession(profileId, 'title-c', Date.now() - 5 * MINUTE);
    const device = await auth.device(profileId);
    const mixed = await postJson(
      `${collector.url}/v1/events`,
      {
        events: [
          play,
          { ...play, eventId: 'nope' },
          { ...play, eventId: randomUUID(), occurredAt: new Date(Date.now() + 3_600_000).toISOString() },
        ],
      },
      device,
    );
    expect(mixed.status).toBe(207);
    expect(mixed.body.results).toEqual([
      { index: 0, eventId: play.eventId, status: 'accepted' },
      { index: 1, status: 'rejected', issues: [{ field: 'eventId', message: expect.any(String) }] },
      { index: 2, status: 'rejected', issues: [{ field: 'occurredAt', message: expect.stringMatching(/future/) }] },
    ]);
    const single = await postJson(`${collector.url}/v1/events`, { ...play, positionMs: -5, type: 'rewind' }, device);
    expect(single.status).toBe(400);
    expect(single.body.issues.map((i: { field: string }) => i.field).sort()).toEqual(['positionMs', 'type']);
    const none = await postJson(`${collector.url}/v1/events`, { events: [{}] }, device);
    expect(none.status).toBe(400);
    const tooMany = await postJson(`${collector.url}/v1/events`, { events: new Array(501).fill(play) }, device);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.issues).toEqual([{ field: 'events', message: expect.any(String) }]);
    await eventually(async () => expect(await history(profileId)).toHaveLength(1));
  });

  it('moves a malformed message to the dead-letter topic with the reason, and ingests the messages behind it', async () => {
    const profileId = uniqueProfileId();
    const [play, pause] = watchSession(profileId, 'title-d', Date.now() - 10 * MINUTE);
    const { eventTopic, deadLetterTopic } = environment.config.kafka;
    await produce(environment.kafka, eventTopic, [{ key: profileId, value: '{"this is": "not an event"' }]);
    await produce(environment.kafka, eventTopic, [
      { key: profileId, value: JSON.stringify({ schemaVersion: 1, ...play, type: 'teleport' }) },
    ]);
    const toDomain = (e: typeof play): PlaybackEvent => ({ ...e, occurredAt: Date.parse(e.occurredAt) });
    await produceEvents(environment.kafka, eventTopic, [toDomain(play), toDomain(pause)]);

    await eventually(async () => expect((await history(profileId))[0]?.state).toBe('paused'));
    const letters = await readTopic(environment.kafka, deadLetterTopic, 2);
    expect(letters).toHaveLength(2);
    const reasons = letters.map((l) => l.headers[HEADERS.deadLetterReason]?.toString());
    expect(reasons[0]).toMatch(/not valid JSON/);
    expect(reasons[1]).toMatch(/type/);
    for (const letter of letters) {
      expect(letter.key?.toString()).toBe(profileId);
      expect(letter.headers[HEADERS.sourceTopic]?.toString()).toBe(eventTopic);
      expect(Number(letter.headers[HEADERS.sourceOffset]?.toString())).toBeGreaterThanOrEqual(0);
    }
  });

  it('answers 503 with Retry-After when Kafka is unavailable', async () => {
    const port = await freePort();
    const orphan = await AppProcess.start('collector', {
      ...environment.env,
      COLLECTOR_PORT: String(port),
      KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
    });
    try {
      const [play] = watchSession(uniqueProfileId(), 'title-e', Date.now());
      const response = await postJson(`${orphan.url}/v1/events`, play, await auth.device(play.profileId));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.body.error).toBe('dependency_unavailable');
    } finally {
      await orphan.stop();
    }
  });

  it('loses and duplicates nothing when ingest is killed mid-stream and restarted', async () => {
    await ingest.stop();
    const events = syntheticHistory(40, 30);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    const profiles = [...new Set(events.map((e) => e.profileId))];
    const rowsOf = async () => (await Promise.all(profiles.map(liveRowCount))).reduce((a, b) => a + b, 0);

    await ingest.start({ INGEST_PARTITIONS_CONCURRENTLY: '1', INGEST_WRITE_CONCURRENCY: '4' });
    await eventually(async () => expect(await rowsOf()).toBeGreaterThan(0), 60_000, 20);
    await ingest.kill();
    const atCrash = await rowsOf();
    // The crash really happened mid-stream: some events written, not all.
    expect(atCrash).toBeGreaterThan(0);
    expect(atCrash).toBeLessThan(events.length);

    await ingest.start();
    await eventually(async () => expect(await rowsOf()).toBe(events.length), 120_000, 500);

    for (const profileId of profiles.slice(0, 10)) {
      const expected = visibleRecords(foldHistory(events.filter((e) => e.profileId === profileId))).map(toView);
      expect(await history(profileId)).toEqual(expected);
    }
  });

  it('shares the partitions between two ingest processes of one group', async () => {
    const second = await AppProcess.start('ingest', { ...environment.env, INGEST_PORT: String(await freePort()) });
    try {
      const admin = environment.kafka.admin();
      await admin.connect();
      try {
        await eventually(
          async () => {
            const { groups } = await admin.describeGroups([environment.config.ingest.groupId]);
            expect(groups[0].state).toBe('Stable');
            expect(groups[0].members).toHaveLength(2);
            for (const member of groups[0].members) expect(member.memberAssignment.length).toBeGreaterThan(0);
          },
          60_000,
          500,
        );
      } finally {
        await admin.disconnect();
      }
      const events = syntheticHistory(12, 2);
      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
      for (const profileId of new Set(events.map((e) => e.profileId))) {
        await eventually(async () =>
          expect(await liveRowCount(profileId)).toBe(events.filter((e) => e.profileId === profileId).length),
        );
      }
    } finally {
      await second.stop();
    }
  });

  it('rebuilds the same live history from the event log with replay, into an empty keyspace', async () => {
    await eventually(async () => expect(await ingestLag(environment)).toBe(0), 60_000, 500);
    const target = `${environment.config.cassandra.keyspace}_replay`;
    const replay = spawnSync(
      process.execPath,
      [
        '-r',
        join(__dirname, '../scripts/register-paths.js'),
        join(__dirname, '../dist/apps/cli/src/main.js'),
        'replay',
        '--keyspace',
        target,
      ],
      { env: { ...process.env, ...environment.env, INGEST_PAUSE_MS: '500' }, encoding: 'utf8', timeout: 120_000 },
    );
    expect(replay.stderr).not.toMatch(/Error/);
    expect(replay.status).toBe(0);
    const report = JSON.parse(replay.stdout);
    expect(report).toMatchObject({ keyspace: target, unprocessable: 2 });

    const all = async (keyspace: string) => {
      const rows = await environment.cassandra.execute(`SELECT * FROM ${keyspace}.live_history`, [], {
        fetchSize: 100_000,
      });
      return rows.rows.map((r) => JSON.stringify(r)).sort();
    };
    const original = await all(environment.config.cassandra.keyspace);
    expect(report.eventsWritten).toBeGreaterThanOrEqual(original.length);
    expect(await all(target)).toEqual(original);

    const rerun = spawnSync(
      process.execPath,
      [
        '-r',
        join(__dirname, '../scripts/register-paths.js'),
        join(__dirname, '../dist/apps/cli/src/main.js'),
        'replay',
        '--keyspace',
        target,
      ],
      { env: { ...process.env, ...environment.env }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(rerun.status).toBe(1);
    expect(rerun.stderr).toMatch(/not empty/);
    await environment.cassandra.execute(`DROP KEYSPACE IF EXISTS ${target}`);
  });
});

/** Messages on the event topic not yet committed by the ingest group. */
async function ingestLag(environment: TestEnvironment): Promise<number> {
  const admin = environment.kafka.admin();
  await admin.connect();
  try {
    const topic = environment.config.kafka.eventTopic;
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: environment.config.ingest.groupId, topics: [topic] }),
    ]);
    return ends.reduce((lag, p) => {
      const at = committed.partitions.find((c) => c.partition === p.partition)?.offset ?? '-1';
      return lag + Number(p.high) - Math.max(Number(at), Number(p.low));
    }, 0);
  } finally {
    await admin.disconnect();
  }
}
