import { foldHistory, visibleRecords } from '@vh/domain';
import { toView } from '../apps/api/src/history/history-request';
import { AppStack, StackMember } from './support/app-stack';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const MINUTE = 60_000;

describe('read API: one merged history for apps and recommendation jobs, and deletion', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let collector: StackMember;
  let api: StackMember;
  let secondApi: StackMember;
  let auth: TestTokens;

  const historyVia = (app: StackMember, profileId: string, query = '') =>
    getJson(`${app.url}/v1/profiles/${profileId}/history${query}`, auth.recommender);
  const del = async (app: StackMember, path: string, profileId: string) =>
    fetch(`${app.url}${path}`, { method: 'DELETE', headers: await auth.device(profileId) });
  const post = async (url: string, body: { events: { profileId: string }[] }) =>
    postJson(url, body, await auth.device(...new Set(body.events.map((e) => e.profileId))));

  beforeAll(async () => {
    environment = await createTestEnvironment('readapi');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 2 });
    collector = stack.first('collector');
    [api, secondApi] = stack.of('api');
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('reads history posted through the collector back newest first, through either API process', async () => {
    const profileId = uniqueProfileId();
    const start = Date.now() - 3 * 3_600_000;
    const sessions = [0, 1, 2].map((i) => watchSession(profileId, `title-${i}`, start + i * 40 * MINUTE));
    expect((await post(`${collector.url}/v1/events`, { events: sessions.flat() })).status).toBe(202);
    for (const app of [api, secondApi]) {
      await eventually(async () => {
        const { body } = await historyVia(app, profileId);
        expect(body.records.map((r: { recordId: string }) => r.recordId)).toEqual(
          [2, 1, 0].map((i) => sessions[i][0].playbackSessionId),
        );
      });
    }
  });

  it('removes a deleted record, and clears a history, as events a second API process also sees', async () => {
    const profileId = uniqueProfileId();
    const start = Date.now() - 2 * 3_600_000;
    const [first, second] = [
      watchSession(profileId, 'title-x', start),
      watchSession(profileId, 'title-y', start + 40 * MINUTE),
    ];
    await post(`${collector.url}/v1/events`, { events: [...first, ...second] });
    await eventually(async () => expect((await historyVia(secondApi, profileId)).body.records).toHaveLength(2));

    const removal = await del(api, `/v1/profiles/${profileId}/history/${first[0].playbackSessionId}`, profileId);
    expect(removal.status).toBe(202);
    await eventually(async () => {
      const { body } = await historyVia(secondApi, profileId);
      expect(body.records.map((r: { recordId: string }) => r.recordId)).toEqual([second[0].playbackSessionId]);
    });

    expect((await del(secondApi, `/v1/profiles/${profileId}/history`, profileId)).status).toBe(202);
    await eventually(async () => expect((await historyVia(api, profileId)).body.records).toEqual([]));

    // Watching goes on after a clear: sessions that start after it appear again.
    const after = watchSession(profileId, 'title-z', Date.now()).slice(0, 1);
    await post(`${collector.url}/v1/events`, { events: after });
    await eventually(async () => expect((await historyVia(api, profileId)).body.records).toHaveLength(1));
  });

  it('pages through a long history with no gap and no repeat, even while new records arrive', async () => {
    const events = syntheticHistory(1, 240);
    const profileId = events[0].profileId;
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    const expected = visibleRecords(foldHistory(events)).map(toView);
    await eventually(
      async () => expect((await historyVia(api, profileId, '?limit=200')).body.records).toEqual(expected.slice(0, 200)),
      60_000,
    );

    const walked: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body } = await historyVia(
        pages % 2 ? api : secondApi,
        profileId,
        `?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(status).toBe(200);
      walked.push(...body.records);
      cursor = body.nextCursor;
      if (++pages === 3) {
        // A newer session arrives mid-walk: it sorts before the cursor, so the walk neither repeats nor skips.
        const newer = syntheticHistory(1, 1, Date.now() - MINUTE).map((e) => ({ ...e, profileId }));
        await produceEvents(environment.kafka, environment.config.kafka.eventTopic, newer);
      }
    } while (cursor);
    expect(walked).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 7));
  });

  it('filters by title and time window, and offers continue-watching with the resume position', async () => {
    const profileId = uniqueProfileId();
    const t = Date.now() - 5 * 3_600_000;
    const a = watchSession(profileId, 'title-a', t).slice(0, 2); // paused at 10 minutes
    const b = watchSession(profileId, 'title-b', t + 3_600_000);
    await post(`${collector.url}/v1/events`, { events: [...a, ...b] });
    await eventually(async () => expect((await historyVia(api, profileId)).body.records).toHaveLength(2));

    const byTitle = await historyVia(api, profileId, '?titleId=title-a');
    expect(byTitle.body.records.map((r: { titleId: string }) => r.titleId)).toEqual(['title-a']);
    const window = await historyVia(
      api,
      profileId,
      `?from=${new Date(t + 30 * MINUTE).toISOString()}&to=${new Date().toISOString()}`,
    );
    expect(window.body.records.map((r: { titleId: string }) => r.titleId)).toEqual(['title-b']);

    const resume = await getJson(`${api.url}/v1/profiles/${profileId}/continue-watching`, auth.recommender);
    expect(resume.body.records.map((r: { titleId: string; positionMs: number }) => [r.titleId, r.positionMs])).toEqual([
      ['title-b', 25 * MINUTE],
      ['title-a', 10 * MINUTE],
    ]);
  });

  it('answers 400 with the field for bad parameters, and an empty list for an unknown profile', async () => {
    const cases: [string, string][] = [
      ['/v1/profiles/p1/history?limit=0', 'limit'],
      ['/v1/profiles/p1/history?limit=abc', 'limit'],
      ['/v1/profiles/p1/history?limit=201', 'limit'],
      ['/v1/profiles/p1/history?cursor=garbage', 'cursor'],
      ['/v1/profiles/p1/history?from=yesterday', 'from'],
      ['/v1/profiles/p1/history?from=2026-02-02T00:00:00Z&to=2026-02-01T00:00:00Z', 'to'],
      ['/v1/profiles/p1/history?sort=asc', '(body)'],
      ['/v1/profiles/bad%20id/history', 'profileId'],
      ['/v1/profiles/p1/continue-watching?limit=-1', 'limit'],
      ['/v1/history/export', 'since'],
    ];
    for (const [path, field] of cases) {
      const { status, body } = await getJson(`${api.url}${path}`, auth.recommender);
      expect([path, status]).toEqual([path, 400]);
      expect(body.issues.map((i: { field: string }) => i.field)).toContain(field);
    }
    expect((await del(api, '/v1/profiles/p1/history/not-a-uuid', 'p1')).status).toBe(400);
    const empty = await historyVia(api, uniqueProfileId('nobody'));
    expect([empty.status, empty.body.records]).toEqual([200, []]);
  });

  it('serves recommendation jobs: batchGet and the NDJSON export return what was ingested', async () => {
    const events = syntheticHistory(5, 3, Date.now() - 6 * 3_600_000);
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    const profiles = [...new Set(events.map((e) => e.profileId))];
    const expectedOf = (profileId: string) =>
      visibleRecords(foldHistory(events.filter((e) => e.profileId === profileId))).map(toView);
    await eventually(
      async () => expect((await historyVia(api, profiles[4])).body.records).toEqual(expectedOf(profiles[4])),
      60_000,
    );

    const since = Date.now() - 4 * 3_600_000;
    const batch = await postJson(
      `${api.url}/v1/history:batchGet`,
      {
        profiles: [
          { profileId: profiles[0] },
          { profileId: profiles[1], since: new Date(since).toISOString() },
          { profileId: 'nobody' },
        ],
      },
      auth.recommender,
    );
    expect(batch.status).toBe(200);
    expect(batch.body.results).toEqual([
      { profileId: profiles[0], records: expectedOf(profiles[0]), truncated: false },
      {
        profileId: profiles[1],
        records: expectedOf(profiles[1]).filter((r) => Date.parse(r.lastEventAt) >= since),
        truncated: false,
      },
      { profileId: 'nobody', records: [], truncated: false },
    ]);
    const tooMany = await postJson(
      `${api.url}/v1/history:batchGet`,
      { profiles: new Array(101).fill({ profileId: 'p' }) },
      auth.recommender,
    );
    expect(tooMany.status).toBe(400);

    const response = await fetch(`${api.url}/v1/history/export?since=${new Date(since).toISOString()}`, {
      headers: auth.recommender,
    });
    expect(response.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ type: 'end', records: lines.length - 1 });
    for (const profileId of profiles) {
      // Oldest change first, each line with its position (a resume token).
      const exported = lines
        .filter((l) => l.profileId === profileId)
        .map(({ type: _t, profileId: _p, position: _position, ...record }) => record);
      expect(exported).toEqual(
        expectedOf(profileId)
          .filter((r) => Date.parse(r.lastEventAt) >= since)
          .sort((a, b) => Date.parse(a.lastEventAt) - Date.parse(b.lastEventAt) || (a.recordId < b.recordId ? -1 : 1)),
      );
    }
  });
});
