import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { AppStack, StackMember } from './support/app-stack';
import { produce } from './support/event-log';
import { eventually } from './support/eventually';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

/** Invariant 4: bad input gets a clear 4xx or a dead-letter record, never a crash or a wrong write. */
describe('fuzz: random and hostile input to every route and to the event topic', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let collector: StackMember;
  let ingest: StackMember;
  let api: StackMember;
  let auth: TestTokens;

  beforeAll(async () => {
    environment = await createTestEnvironment('fuzz');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1 });
    [collector, ingest, api] = [stack.first('collector'), stack.first('ingest'), stack.first('api')];
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  const hostileString = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom(
      '../../etc/passwd',
      "' OR 1=1 --",
      '%00',
      '\u0000',
      'a'.repeat(5000),
      '{"$gt":""}',
      '__proto__',
      'constructor',
      '🎬🍿',
    ),
  );
  const body = fc.oneof(
    fc.anything(),
    fc.json(),
    fc.record({ events: fc.array(fc.anything(), { maxLength: 5 }) }),
    fc.record({ profiles: fc.array(fc.record({ profileId: hostileString, since: hostileString }), { maxLength: 3 }) }),
    fc.record({
      eventId: fc.uuid(),
      profileId: hostileString,
      type: hostileString,
      positionMs: fc.double(),
      occurredAt: hostileString,
    }),
    fc.constant({ ['__proto__']: { polluted: true } }),
  );

  it('answers every random request with a 2xx or a clear 4xx, and stays up', async () => {
    const routes = [
      { app: () => collector, method: 'POST', path: () => '/v1/events', headers: () => auth.device('fuzz-profile') },
      {
        app: () => api,
        method: 'GET',
        path: (p: string, q: string) => `/v1/profiles/${p}/history?${q}`,
        headers: async () => auth.recommender,
      },
      {
        app: () => api,
        method: 'GET',
        path: (p: string, q: string) => `/v1/profiles/${p}/continue-watching?${q}`,
        headers: async () => auth.recommender,
      },
      {
        app: () => api,
        method: 'DELETE',
        path: (p: string, q: string) => `/v1/profiles/fuzz-profile/history/${p}?${q}`,
        headers: () => auth.device('fuzz-profile'),
      },
      { app: () => api, method: 'POST', path: () => '/v1/history:batchGet', headers: async () => auth.recommender },
      {
        app: () => api,
        method: 'GET',
        path: (_p: string, q: string) => `/v1/history/export?${q}`,
        headers: async () => auth.recommender,
      },
      { app: () => api, method: 'POST', path: () => '/v1/admin/compactions', headers: async () => auth.operator },
      {
        app: () => api,
        method: 'GET',
        path: (p: string) => `/v1/admin/compactions/${p}`,
        headers: async () => auth.operator,
      },
    ];
    const query = fc
      .array(
        fc.tuple(fc.constantFrom('limit', 'cursor', 'from', 'to', 'titleId', 'since', 'x', 'limit[]'), hostileString),
        { maxLength: 4 },
      )
      .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
    const contentType = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      '',
    );
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(routes.length - 1),
        hostileString,
        query,
        body,
        contentType,
        fc.boolean(),
        async (r, segment, q, payload, type, raw) => {
          const route = routes[r];
          const headers: Record<string, string> = { ...(await route.headers()) };
          if (type) headers['content-type'] = type;
          const response = await fetch(`${route.app().url}${route.path(encodeURIComponent(segment), q)}`, {
            method: route.method,
            headers,
            body:
              route.method === 'GET'
                ? undefined
                : raw
                  ? (JSON.stringify(payload) ?? 'undefined').slice(0, -1)
                  : JSON.stringify(payload),
          });
          await response.arrayBuffer();
          seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
          expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 400 },
    );
    expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
    for (const app of [collector, ingest, api]) expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });

  it('moves random bytes on the event topic to the dead-letter topic, stores nothing and keeps ingesting', async () => {
    const count = async () =>
      (
        await environment.cassandra.execute(
          `SELECT count(*) AS n FROM ${environment.config.cassandra.keyspace}.live_history`,
        )
      )
        .first()
        .get('n')
        .toNumber();
    // The HTTP fuzz may have cleared fuzz-profile's history (a valid request for its token): count from here.
    const rowsBefore = await count();
    const junk = Array.from({ length: 200 }, (_, i) => ({
      key: i % 3 ? `fuzz-${i}` : null,
      value: i % 7 ? randomBytes(1 + (i % 300)) : null,
    }));
    await produce(environment.kafka, environment.config.kafka.eventTopic, junk);
    const admin = environment.kafka.admin();
    await admin.connect();
    try {
      await eventually(
        async () => {
          const offsets = await admin.fetchTopicOffsets(environment.config.kafka.deadLetterTopic);
          expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(junk.length);
        },
        60_000,
        500,
      );
    } finally {
      await admin.disconnect();
    }
    expect(await count()).toBe(rowsBefore);
    const rows = await environment.cassandra.execute(
      `SELECT profile_id, type FROM ${environment.config.cassandra.keyspace}.live_history`,
    );
    for (const row of rows.rows)
      expect([row.get('profile_id'), row.get('type')]).toEqual(['fuzz-profile', 'history-cleared']);
    expect((await fetch(`${ingest.url}/health/live`)).status).toBe(200);
  });
});
