import { loadConfig } from '@vh/config';
import { encodeViewingEvent } from '@vh/domain';
import { DeadLetterPublisher, HEADERS } from '@vh/messaging';
import { AppProcess } from './support/app-process';
import { runCli } from './support/cli';
import { produce, readTopic } from './support/event-log';
import { eventually } from './support/eventually';
import { getJson, postJson, uniqueProfileId, watchSession, WirePlaybackEvent } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const MINUTE = 60_000;

/** As the collector puts an event on the log: schema version and acceptedAt. */
function onTheLog(event: WirePlaybackEvent, acceptedAt: number): string {
  return encodeViewingEvent({ ...event, occurredAt: Date.parse(event.occurredAt), acceptedAt });
}

describe('dead letters: list, show, re-drive, purge (API and CLI)', () => {
  let environment: TestEnvironment;
  let ingest: AppProcess;
  let api: AppProcess;
  let auth: TestTokens;
  const url = (path: string) => `${api.url}/v1/admin/dead-letters${path}`;
  const list = async (query = '') => {
    const response = await getJson(url(query), auth.operator);
    expect(response.status).toBe(200);
    return response.body as { deadLetters: any[]; next: string | null; pending: number; scanned: number };
  };
  const history = async (profileId: string) =>
    (await getJson(`${api.url}/v1/profiles/${profileId}/history?limit=200`, auth.recommender)).body.records;

  beforeAll(async () => {
    environment = await createTestEnvironment('dead_letters');
    auth = await testTokens();
    [ingest, api] = await Promise.all([
      AppProcess.start('ingest', environment.env),
      AppProcess.start('api', environment.env),
    ]);
  });

  afterAll(async () => {
    await Promise.all([ingest?.stop(), api?.stop()]);
    await environment?.dispose();
  });

  it('re-drives a session dead-lettered for a since-fixed reason: it appears in the history once, re-driven twice still once', async () => {
    const { eventTopic } = environment.config.kafka;
    const profileId = uniqueProfileId();
    const session = watchSession(profileId, 'title-dl', Date.now() - 60 * MINUTE);
    const acceptedAt = Date.now() - 59 * MINUTE;

    // 1. A message the running ingest really dead-letters (not JSON), with its source offset.
    await produce(environment.kafka, eventTopic, [{ key: profileId, value: '{"not": "an event"' }]);
    await eventually(async () => expect((await list()).deadLetters).toHaveLength(1), 60_000);
    // 2. A valid session an older ingest dead-lettered for a reason since fixed (zod 4's uuid() refused ids
    // that are not RFC 4122; see viewing-event.schema.ts): written as ingest writes letters, same publisher.
    const publisher = new DeadLetterPublisher(loadConfig({ ...process.env, ...environment.env }));
    try {
      await publisher.publish(
        session.map((event, i) => ({
          sourceTopic: eventTopic,
          sourcePartition: 0,
          sourceOffset: String(1_000 + i),
          sourceTimestamp: String(acceptedAt),
          key: Buffer.from(profileId),
          value: Buffer.from(onTheLog(event, acceptedAt)),
          headers: { [HEADERS.requestId]: `req-${i}` },
          reason: 'invalid event: eventId: must be a UUID (8-4-4-4-12 hex digits)',
        })),
      );
    } finally {
      await publisher.onApplicationShutdown();
    }

    const all = await eventually(async () => {
      const page = await list();
      expect(page.deadLetters).toHaveLength(5);
      return page;
    }, 60_000);
    expect(all.pending).toBe(5);
    expect(all.next).toBeNull();
    const [garbage, ...letters] = all.deadLetters;
    expect(garbage).toMatchObject({
      id: '0-0',
      reason: expect.stringMatching(/not valid JSON/),
      source: { topic: eventTopic, partition: expect.any(Number), offset: expect.stringMatching(/^\d+$/) },
      key: profileId,
      payload: '{"not": "an event"',
      payloadEncoding: 'utf8',
      redrivenFrom: null,
    });
    expect(garbage.source.timestamp).toEqual(expect.any(String));
    expect(letters.map((l) => l.source.offset)).toEqual(['1000', '1001', '1002', '1003']);
    expect(letters[0].headers).toEqual({ [HEADERS.requestId]: 'req-0' });

    // Filter by reason, page by cursor, show one.
    const uuidOnes = await list('?reason=UUID');
    expect(uuidOnes.deadLetters.map((l) => l.id)).toEqual(letters.map((l) => l.id));
    const firstPage = await list('?limit=2');
    expect(firstPage.deadLetters.map((l) => l.id)).toEqual(['0-0', '0-1']);
    expect(firstPage.next).toBe('0-1');
    const secondPage = await list(`?limit=2&after=${firstPage.next}`);
    expect(secondPage.deadLetters.map((l) => l.id)).toEqual(['0-2', '0-3']);
    const shown = await getJson(url(`/${letters[0].id}`), auth.operator);
    expect(shown.status).toBe(200);
    expect(JSON.parse(shown.body.payload)).toMatchObject({ eventId: session[0].eventId, type: 'play' });
    expect((await getJson(url('/0-999'), auth.operator)).status).toBe(404);
    expect((await getJson(url('/zero'), auth.operator)).status).toBe(400);

    // Not history: the letters were never ingested.
    expect(await history(profileId)).toEqual([]);

    // Re-drive through the API...
    const redriven = await postJson(url('/redrive'), { ids: letters.map((l) => l.id) }, auth.operator);
    expect(redriven.status).toBe(200);
    expect(redriven.body.redriven.map((r: { id: string }) => r.id)).toEqual(letters.map((l) => l.id));
    expect(redriven.body.notFound).toEqual([]);
    const expected = {
      recordId: session[0].playbackSessionId,
      titleId: 'title-dl',
      positionMs: 25 * MINUTE,
      watchedMs: 25 * MINUTE,
      state: 'stopped',
    };
    await eventually(async () => {
      const records = await history(profileId);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject(expected);
    }, 60_000);

    // ...and everything again through the CLI: the session still counts once (invariant 1); the garbage
    // comes back as a new dead letter that says it was re-driven.
    const again = await runCli(['dead-letters', 'redrive', '--all'], environment.env);
    expect(again.stderr).not.toMatch(/Error:/);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout).redriven).toHaveLength(5);
    const sixth = await eventually(async () => {
      const page = await list();
      expect(page.deadLetters).toHaveLength(6);
      return page.deadLetters[5];
    }, 60_000);
    expect(sixth).toMatchObject({
      reason: expect.stringMatching(/not valid JSON/),
      redrivenFrom: `${environment.config.kafka.deadLetterTopic}/0/0`,
    });
    // A later session of the same profile (same partition, after the second copies): once it shows, the
    // second copies were ingested, and the re-driven session still counts once.
    const later = watchSession(profileId, 'title-later', Date.now() - 20 * MINUTE);
    await produce(
      environment.kafka,
      eventTopic,
      later.map((e) => ({ key: profileId, value: onTheLog(e, Date.now()) })),
    );
    await eventually(async () => {
      const records = await history(profileId);
      expect(records).toHaveLength(2);
      expect(records[1]).toMatchObject(expected);
    }, 60_000);

    // On the log: each session event twice (original key, original timestamp, headers saying from where).
    const log = await readTopic(environment.kafka, eventTopic, 14);
    const copies = log.filter((m) => m.headers[HEADERS.redrivenFrom] !== undefined);
    expect(copies).toHaveLength(9);
    for (const copy of copies) {
      expect(copy.key?.toString()).toBe(profileId);
      expect(copy.headers[HEADERS.deadLetterReason]).toBeUndefined();
      expect(copy.headers[HEADERS.redrivenBy]?.toString()).toMatch(/^(operator|cli):/);
      // Where the original lay: ingest places the copy against an erasure's mark by it (docs/adr/0009).
      expect(copy.headers[HEADERS.redrivenSource]?.toString()).toMatch(new RegExp(`^${eventTopic}/\\d+/\\d+$`));
    }
    expect(copies.filter((c) => c.headers[HEADERS.requestId]?.toString() === 'req-0')).toHaveLength(2);

    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/^viewing_history_dead_letters_redriven_total [1-9]/m);
  }, 300_000);

  it('purges explicitly: through an id, then all; purged letters are gone (404) and counted', async () => {
    const before = await list();
    expect(before.pending).toBeGreaterThanOrEqual(2);
    const first = before.deadLetters[0].id;
    expect((await postJson(url('/purge'), {}, auth.operator)).status).toBe(400);
    const purged = await postJson(url('/purge'), { through: first }, auth.operator);
    expect(purged.status).toBe(200);
    expect(purged.body.purged).toBe(1);
    expect((await getJson(url(`/${first}`), auth.operator)).status).toBe(404);
    expect((await list()).pending).toBe(before.pending - 1);

    const cli = await runCli(['dead-letters', 'purge', '--all'], environment.env);
    expect(cli.status).toBe(0);
    expect(JSON.parse(cli.stdout).purged).toBe(before.pending - 1);
    const after = await list();
    expect(after).toMatchObject({ deadLetters: [], pending: 0, next: null });
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/^viewing_history_dead_letters_purged_total 1$/m);
  }, 300_000);

  it('is for operators only: 401 without a token, 403 for devices and recommendation jobs', async () => {
    expect((await getJson(url(''))).status).toBe(401);
    const profileId = uniqueProfileId();
    for (const headers of [await auth.device(profileId), auth.recommender]) {
      expect((await getJson(url(''), headers)).status).toBe(403);
      expect((await postJson(url('/redrive'), { all: true }, headers)).status).toBe(403);
      expect((await postJson(url('/purge'), { all: true }, headers)).status).toBe(403);
    }
  });
});
