import { AppStack } from './support/app-stack';
import { signIn, tokenOf, withSession } from './support/console-session';
import { eventually } from './support/eventually';
import { encodeViewingEvent } from '@vh/domain';
import { produce } from './support/event-log';
import { postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { testTokens } from './support/tokens';

describe('operator console: sessions, CSRF, the pages’ routes and Bull Board', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let api: string;

  beforeAll(async () => {
    // Compaction takes live history older than 2 hours (the profile test posts a session 3 hours old).
    environment = await createTestEnvironment('console', {
      COMPACTION_MIN_AGE_MS: String(2 * 3_600_000),
      EVENT_MAX_AGE_MS: String(3_600_000),
    });
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1, compactor: 1 });
    api = stack.first('api').url;
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('serves the page with a strict content security policy, no token needed', async () => {
    const page = await fetch(`${api}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(await page.text()).toMatch(/<label for="token"|console\.js/);
    expect((await fetch(`${api}/console/assets/console.js`)).status).toBe(200);
    expect((await fetch(`${api}/console/assets/..%2Fconsole.controller.js`)).status).toBe(404);
  });

  it('gives a session to an operator token only: 400 without one, 401 for a bad one, 403 for devices and jobs', async () => {
    expect((await signIn(api, undefined)).status).toBe(400);
    expect((await signIn(api, 'not.a.token')).status).toBe(401);
    const otherSecret = await tokenOf('operator', { AUTH_JWT_SECRET: 'another-secret-that-is-long-enough-123456' });
    expect((await signIn(api, otherSecret)).status).toBe(401);
    const device = await signIn(api, await tokenOf('device', environment.env, 3600, ['p1']));
    expect(device.status).toBe(403);
    expect(device.setCookie).toBeNull();
    expect((await signIn(api, await tokenOf('recommender', environment.env))).status).toBe(403);
    // A sign-in posted from another site (login CSRF) is refused.
    const crossSite = await signIn(api, await tokenOf('operator', environment.env), { origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
  });

  it('an operator session: HttpOnly SameSite=Strict cookie (Secure behind TLS), operator routes only, CSRF on changes', async () => {
    const session = await signIn(api, await tokenOf('operator', environment.env));
    expect(session.status).toBe(200);
    expect(session.setCookie).toMatch(
      /^vh_console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
    );
    expect(session.body).toMatchObject({ subject: 'operator-local', csrfToken: expect.any(String) });
    expect(JSON.stringify(session.body)).not.toMatch(/eyJ/); // the token is not echoed back
    const tls = await signIn(api, await tokenOf('operator', environment.env), { 'x-forwarded-proto': 'https' });
    expect(tls.setCookie).toMatch(/; Secure$/);

    // The page recovers its CSRF token after a reload from the session, not from storage.
    const current = await withSession(api, session, 'GET', '/console/session');
    expect(current.body.csrfToken).toBe(session.csrfToken);

    const overview = await eventually(async () => {
      const answer = await withSession(api, session, 'GET', '/v1/admin/overview');
      expect(answer.status).toBe(200);
      expect(answer.body.dependencies).toMatchObject({
        kafka: { status: 'up' },
        cassandra: { status: 'up' },
        redis: { status: 'up' },
      });
      return answer.body;
    }, 60_000);
    expect(overview.apps.map((a: { app: string; status: string }) => [a.app, a.status])).toEqual([
      ['collector', 'ready'],
      ['ingest', 'ready'],
      ['api', 'ready'],
      ['compactor', 'ready'],
    ]);
    expect(overview.ingestLag.partitions.length).toBe(environment.config.kafka.eventTopicPartitions);
    expect(overview).toMatchObject({
      counters: { eventsAccepted: expect.any(Number), eventsWritten: expect.any(Number) },
      deadLetters: { pending: 0 },
      compactionQueue: { counts: expect.objectContaining({ failed: expect.any(Number) }) },
    });

    // Operator scope only: a session never reads a device's history (invariant 5).
    expect((await withSession(api, session, 'GET', '/v1/profiles/p1/history')).status).toBe(403);

    // Changes: the CSRF header and our own origin, both.
    const compact = { profileId: uniqueProfileId(), dryRun: true };
    const path = '/v1/admin/compactions';
    expect((await withSession(api, session, 'POST', path, { body: compact, csrf: false })).status).toBe(403);
    expect(
      (
        await withSession(api, { ...session, csrfToken: otherToken(session.csrfToken) }, 'POST', path, {
          body: compact,
        })
      ).status,
    ).toBe(403);
    expect((await withSession(api, session, 'POST', path, { body: compact, origin: null })).status).toBe(403);
    expect(
      (await withSession(api, session, 'POST', path, { body: compact, origin: 'https://evil.example' })).status,
    ).toBe(403);
    const accepted = await withSession(api, session, 'POST', path, { body: compact });
    expect(accepted.status).toBe(202);
    const jobs = await eventually(async () => {
      const recent = await withSession(api, session, 'GET', '/v1/admin/compactions?limit=10');
      expect(recent.body.jobs.find((j: { jobId: string }) => j.jobId === accepted.body.jobId)?.state).toBe('completed');
      return recent.body;
    }, 60_000);
    expect(jobs.counts).toMatchObject({ completed: expect.any(Number) });
  });

  it('the cookie opens Bull Board; Bull Board’s changes need our origin; without a session it is closed', async () => {
    const session = await signIn(api, await tokenOf('operator', environment.env));
    expect((await fetch(`${api}/admin/queues`)).status).toBe(401);
    const board = await withSession(api, session, 'GET', '/admin/queues');
    expect(board.status).toBe(200);
    expect(board.text).toMatch(/<html/i);
    const queues = await withSession(api, session, 'GET', '/admin/queues/api/queues');
    expect(queues.status).toBe(200);
    const queue = environment.env.COMPACTION_QUEUE;
    expect(
      (await withSession(api, session, 'PUT', `/admin/queues/api/queues/${queue}/pause`, { origin: null })).status,
    ).toBe(403);
    expect(
      (
        await withSession(api, session, 'PUT', `/admin/queues/api/queues/${queue}/pause`, {
          origin: 'https://evil.example',
        })
      ).status,
    ).toBe(403);
    const operator = (await testTokens(environment.env)).operator;
    expect((await fetch(`${api}/admin/queues`, { headers: operator })).status).toBe(200);
  });

  it('sign-out needs the CSRF token, ends the session in the server, and clears the cookie', async () => {
    const session = await signIn(api, await tokenOf('operator', environment.env));
    expect((await withSession(api, session, 'DELETE', '/console/session', { csrf: false })).status).toBe(403);
    const out = await fetch(`${api}/console/session`, {
      method: 'DELETE',
      headers: { cookie: session.cookie, origin: api, 'x-csrf-token': session.csrfToken },
    });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^vh_console=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/);
    // A copy of the old cookie is refused everywhere.
    expect((await withSession(api, session, 'GET', '/v1/admin/overview')).status).toBe(401);
    expect((await withSession(api, session, 'GET', '/admin/queues')).status).toBe(401);
    expect((await withSession(api, session, 'GET', '/console/session')).status).toBe(401);
    expect(
      (await withSession(api, { cookie: 'vh_console=forged', csrfToken: '' }, 'GET', '/v1/admin/overview')).status,
    ).toBe(401);
  });

  it('a session ends with the token it came from (expired: 401)', async () => {
    const session = await signIn(api, await tokenOf('operator', environment.env, 2));
    expect(session.status).toBe(200);
    expect(Number(/Max-Age=(\d+)/.exec(session.setCookie ?? '')?.[1])).toBeLessThanOrEqual(2);
    expect((await withSession(api, session, 'GET', '/v1/admin/dead-letters/count')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await withSession(api, session, 'GET', '/v1/admin/dead-letters/count')).status).toBe(401);
  });

  it('the profile view: merged history, live rows, compressed version with chunks and checksums', async () => {
    const profileId = uniqueProfileId();
    const operator = (await testTokens(environment.env)).operator;
    const device = (await testTokens(environment.env)).device;
    // Older than the collector takes (offline playback beyond EVENT_MAX_AGE_MS): straight onto the log.
    const events = watchSession(profileId, 'title-console', Date.now() - 2.5 * 3_600_000);
    await produce(
      environment.kafka,
      environment.config.kafka.eventTopic,
      events.map((e) => ({
        key: profileId,
        value: encodeViewingEvent({ ...e, occurredAt: Date.parse(e.occurredAt), acceptedAt: Date.now() }),
      })),
    );
    const inspect = () =>
      fetch(`${api}/v1/admin/profiles/${profileId}`, { headers: operator }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as any,
      }));
    await eventually(async () => expect((await inspect()).body.liveRowCount).toBe(4), 60_000);
    const before = (await inspect()).body as any;
    expect(before).toMatchObject({ recordCount: 1, compressed: null });
    const job = await postJson(`${api}/v1/admin/compactions`, { profileId }, operator);
    expect(job.status).toBe(202);
    const after = await eventually(async () => {
      const view = (await inspect()).body as any;
      expect(view.compressed?.version).toBe(1);
      return view;
    }, 60_000);
    expect(after).toMatchObject({ recordCount: 1, records: [{ titleId: 'title-console', watchedMs: 25 * 60_000 }] });
    expect(after.compressed).toMatchObject({
      codec: 'zstd',
      lastCompactedAt: expect.any(String),
      dictionaryId: expect.any(Number),
    });
    expect(after.compressed.chunks.length).toBeGreaterThanOrEqual(1);
    for (const chunk of after.compressed.chunks) {
      expect(chunk).toMatchObject({
        storedBytes: expect.any(Number),
        checksum: expect.stringMatching(/^[0-9a-f]{32}$/),
        intact: true,
      });
    }
    expect((await fetch(`${api}/v1/admin/profiles/${profileId}`, { headers: await device(profileId) })).status).toBe(
      403,
    );
  });
});

/** The token with its first character changed: replaced by 'x' it stayed the same when it began with one (a flake). */
function otherToken(token: string): string {
  return (token[0] === 'x' ? 'y' : 'x') + token.slice(1);
}
