import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { Queue } from 'bullmq';
import { createCompactionQueue } from '@vh/compaction';
import { AppProcess } from './support/app-process';
import { eventually } from './support/eventually';
import { uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { bearer, TestTokens, testTokens } from './support/tokens';

type Headers = Record<string, string>;

/** Invariant 4: a caller sees and changes only what its credentials allow; forbidden calls write nothing. */
describe('authentication and authorisation on every route', () => {
  let environment: TestEnvironment;
  let collector: AppProcess;
  let api: AppProcess;
  let auth: TestTokens;
  let queue: Queue;
  const owner = uniqueProfileId('owner');
  const stranger = uniqueProfileId('stranger');
  const recordId = randomUUID();

  const routes = () => {
    const [event] = watchSession(owner, 'title-1', Date.now() - 60_000);
    return [
      { name: 'POST /v1/events', url: `${collector.url}/v1/events`, method: 'POST', body: event, writes: true },
      {
        name: 'POST /v1/events (batch)',
        url: `${collector.url}/v1/events`,
        method: 'POST',
        body: { events: [event] },
        writes: true,
      },
      { name: 'GET history', url: `${api.url}/v1/profiles/${owner}/history`, method: 'GET' },
      { name: 'GET continue-watching', url: `${api.url}/v1/profiles/${owner}/continue-watching`, method: 'GET' },
      {
        name: 'DELETE record',
        url: `${api.url}/v1/profiles/${owner}/history/${recordId}`,
        method: 'DELETE',
        writes: true,
      },
      { name: 'DELETE history', url: `${api.url}/v1/profiles/${owner}/history`, method: 'DELETE', writes: true },
      {
        name: 'DELETE title',
        url: `${api.url}/v1/profiles/${owner}/titles/title-1/history`,
        method: 'DELETE',
        writes: true,
      },
      { name: 'GET settings', url: `${api.url}/v1/profiles/${owner}/settings`, method: 'GET' },
      {
        name: 'PUT settings',
        url: `${api.url}/v1/profiles/${owner}/settings`,
        method: 'PUT',
        body: { recording: 'paused' },
        writes: true,
      },
      {
        name: 'DELETE profile (erase)',
        url: `${api.url}/v1/profiles/${owner}`,
        method: 'DELETE',
        body: { confirm: owner },
        writes: true,
      },
      {
        name: 'POST batchGet',
        url: `${api.url}/v1/history:batchGet`,
        method: 'POST',
        body: { profiles: [{ profileId: owner }] },
      },
      { name: 'GET export', url: `${api.url}/v1/history/export?since=2026-01-01T00:00:00Z`, method: 'GET' },
      {
        name: 'POST compactions',
        url: `${api.url}/v1/admin/compactions`,
        method: 'POST',
        body: { profileId: owner },
        writes: true,
      },
      { name: 'GET compaction', url: `${api.url}/v1/admin/compactions/1`, method: 'GET' },
      { name: 'Bull Board', url: `${api.url}/admin/queues/api/queues`, method: 'GET' },
    ];
  };

  const call = async (route: ReturnType<typeof routes>[number], headers: Headers) => {
    const response = await fetch(route.url, {
      method: route.method,
      headers: { 'content-type': 'application/json', ...headers },
      body: route.body === undefined ? undefined : JSON.stringify(route.body),
    });
    return {
      status: response.status,
      wwwAuthenticate: response.headers.get('www-authenticate'),
      body: await response.text(),
    };
  };

  const eventsOnTheLog = async () => {
    const admin = environment.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(environment.config.kafka.eventTopic);
      return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  };
  const jobsQueued = async () => Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    environment = await createTestEnvironment('auth');
    auth = await testTokens();
    queue = createCompactionQueue(environment.config);
    [collector, api] = await Promise.all([
      AppProcess.start('collector', environment.env),
      AppProcess.start('api', environment.env),
    ]);
  });

  afterAll(async () => {
    await Promise.all([collector?.stop(), api?.stop()]);
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await environment?.dispose();
  });

  it('answers 401 on every route without a valid token', async () => {
    const secret = new TextEncoder().encode('some-other-secret-that-is-long-enough-to-sign');
    const forged = await new SignJWT({
      scope: 'events:write history:read history:delete history:read:all compaction:admin',
      profiles: [owner],
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('viewing-history')
      .setAudience('viewing-history')
      .setExpirationTime('1h')
      .sign(secret);
    const expired = (await bearer('operator')).authorization.replace(/^Bearer /, '');
    const [, payload] = expired.split('.');
    const tampered = expired.replace(
      payload,
      Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), exp: 1 })).toString(
        'base64url',
      ),
    );
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    // Correctly signed, but without exp: once leaked it would work for ever (issue 11 §7).
    const eternal = await new SignJWT({
      scope: 'events:write history:read history:delete history:read:all compaction:admin',
      profiles: [owner],
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(environment.config.auth.issuer)
      .setAudience(environment.config.auth.audience)
      .sign(new TextEncoder().encode(environment.config.auth.secret));
    const bad: Headers[] = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer not.a.jwt' },
      { authorization: `Bearer ${forged}` },
      { authorization: `Bearer ${tampered}` },
      { authorization: `Bearer ${unsigned}` },
      { authorization: `Bearer ${eternal}` },
    ];
    for (const route of routes()) {
      for (const headers of bad) {
        const { status, wwwAuthenticate } = await call(route, headers);
        expect([route.name, headers.authorization ?? '(none)', status]).toEqual([
          route.name,
          headers.authorization ?? '(none)',
          401,
        ]);
        if (route.name !== 'Bull Board') expect(wwwAuthenticate).toMatch(/^Bearer/);
      }
    }
  });

  it('answers 403 for a valid token with the wrong scope or profile', async () => {
    const strangerDevice = await auth.device(stranger);
    const ownerDevice = await auth.device(owner);
    const forbidden: Record<string, Headers[]> = {
      'POST /v1/events': [strangerDevice, auth.recommender, auth.operator],
      'POST /v1/events (batch)': [strangerDevice, auth.recommender, auth.operator],
      'GET history': [strangerDevice, auth.operator],
      'GET continue-watching': [strangerDevice, auth.operator],
      'DELETE record': [strangerDevice, auth.recommender, auth.operator],
      'DELETE history': [strangerDevice, auth.recommender, auth.operator],
      'DELETE title': [strangerDevice, auth.recommender, auth.operator],
      'GET settings': [strangerDevice, auth.recommender],
      'PUT settings': [strangerDevice, auth.recommender],
      'DELETE profile (erase)': [strangerDevice, auth.recommender],
      'POST batchGet': [ownerDevice, auth.operator],
      'GET export': [ownerDevice, auth.operator],
      'POST compactions': [ownerDevice, auth.recommender],
      'GET compaction': [ownerDevice, auth.recommender],
      'Bull Board': [ownerDevice, auth.recommender],
    };
    for (const route of routes()) {
      expect(forbidden[route.name]).toBeDefined();
      for (const headers of forbidden[route.name]) {
        const { status } = await call(route, headers);
        expect([route.name, status]).toEqual([route.name, 403]);
      }
    }
    // A batch with one foreign profile is refused whole.
    const mine = watchSession(owner, 'title-2', Date.now() - 60_000);
    const theirs = watchSession(stranger, 'title-2', Date.now() - 60_000);
    const mixed = await call(
      {
        name: 'batch',
        url: `${collector.url}/v1/events`,
        method: 'POST',
        body: { events: [...mine, ...theirs] },
        writes: true,
      },
      ownerDevice,
    );
    expect(mixed.status).toBe(403);
  });

  it('wrote nothing for any refused call, and writes for the right token', async () => {
    expect(await eventsOnTheLog()).toBe(0);
    expect(await jobsQueued()).toBe(0);

    const ownerDevice = await auth.device(owner);
    const allowed: Record<string, Headers[]> = {
      'POST /v1/events': [ownerDevice],
      'GET history': [ownerDevice, auth.recommender],
      'DELETE record': [ownerDevice],
      'DELETE title': [ownerDevice],
      'GET settings': [ownerDevice, auth.operator],
      'PUT settings': [ownerDevice, auth.operator],
      'DELETE profile (erase)': [auth.operator],
      'POST batchGet': [auth.recommender],
      'GET export': [auth.recommender],
      'POST compactions': [auth.operator],
      'Bull Board': [auth.operator],
    };
    // Every name must be a route, or its calls would silently never be made.
    expect(Object.keys(allowed).filter((name) => !routes().some((route) => route.name === name))).toEqual([]);
    for (const route of routes()) {
      for (const headers of allowed[route.name] ?? []) {
        const { status } = await call(route, headers);
        expect([route.name, status]).toEqual([route.name, route.writes ? 202 : 200]);
      }
    }
    // The event, the removal, the title removal and two settings changes.
    await eventually(async () => expect(await eventsOnTheLog()).toBe(5));
    // The operator's compaction, and the one the title removal asks for (delayed until it is ingested).
    expect(await jobsQueued()).toBe(2);
    // The event, the removal and the erasure's mark.
    await eventually(async () => expect(await eventsOnTheLog()).toBe(3));
    expect(await jobsQueued()).toBe(1);
  });

  it('keeps health open', async () => {
    for (const app of [collector, api]) expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });
});
