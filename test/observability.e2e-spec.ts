import { HEADERS } from '@vh/messaging';
import { AppName, AppProcess } from './support/app-process';
import { AppStack, StackMember } from './support/app-stack';
import { readTopic } from './support/event-log';
import { postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, freePort, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

describe('operations: health, metrics, docs, request ids and load shedding on every app', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let apps: Record<AppName, StackMember>;
  let auth: TestTokens;

  beforeAll(async () => {
    environment = await createTestEnvironment('ops');
    auth = await testTokens();
    const names: AppName[] = ['collector', 'ingest', 'api', 'compactor'];
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1, compactor: 1 });
    apps = Object.fromEntries(names.map((name) => [name, stack.first(name)])) as Record<AppName, StackMember>;
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it.each(['collector', 'ingest', 'api', 'compactor'] as AppName[])(
    '%s answers /health/live, /health/ready, /metrics and /docs',
    async (name) => {
      const app = apps[name];
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${app.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: 'ok',
        info: { kafka: { status: 'up' }, cassandra: { status: 'up' }, redis: { status: 'up' } },
      });
      const scraped = await (await fetch(`${app.url}/metrics`)).text();
      expect(scraped).toMatch(/^# TYPE viewing_history_http_request_duration_seconds histogram$/m);
      expect(scraped).toMatch(/^process_cpu_seconds_total|^# HELP viewing_history_requests_shed_total/m);
      expect((await fetch(`${app.url}/docs`)).status).toBe(200);
      const openapi = (await (await fetch(`${app.url}/docs/openapi.json`)).json()) as { paths: object };
      expect(Object.keys(openapi.paths)).toContain('/health/ready');
    },
  );

  it('times every request by route template and final status, the refused ones (401) too', async () => {
    const api = apps.api;
    const route = 'route="/v1/profiles/:profileId/history"';
    const count = async (status: string) => {
      const scraped = await (await fetch(`${api.url}/metrics`)).text();
      const line = scraped
        .split('\n')
        .find(
          (l) =>
            l.startsWith('viewing_history_http_request_duration_seconds_count{') &&
            l.includes('method="GET"') &&
            l.includes(route) &&
            l.includes(`status="${status}"`),
        );
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const [ok, refused] = [await count('200'), await count('401')];
    const profileId = uniqueProfileId();
    expect((await fetch(`${api.url}/v1/profiles/${profileId}/history`, { headers: auth.recommender })).status).toBe(
      200,
    );
    expect((await fetch(`${api.url}/v1/profiles/${profileId}/history`)).status).toBe(401);
    // The status is the one sent, after the error filter mapped it; the label is the template, never the URL.
    expect(await count('200')).toBe(ok + 1);
    expect(await count('401')).toBe(refused + 1);
    expect(await (await fetch(`${api.url}/metrics`)).text()).not.toContain(profileId);
  });

  it('is not ready while its keyspace lacks the schema, and says what to run', async () => {
    const port = await freePort();
    const unmigrated = await AppProcess.start('api', {
      ...environment.env,
      API_PORT: String(port),
      CASSANDRA_KEYSPACE: `never_migrated_${Date.now()}`,
    });
    try {
      expect((await fetch(`${unmigrated.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${unmigrated.url}/health/ready`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { error: { cassandra: { status: string; message: string } } };
      expect(body.error.cassandra.status).toBe('down');
      expect(body.error.cassandra.message).toMatch(/lacks migrations 1.*npm run migrate/);
    } finally {
      await unmigrated.stop();
    }
  });

  it('documents the collector, read and admin routes', async () => {
    const collector = (await (await fetch(`${apps.collector.url}/docs/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(collector.paths)).toContain('/v1/events');
    const api = (await (await fetch(`${apps.api.url}/docs/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(api.paths)).toEqual(
      expect.arrayContaining([
        '/v1/profiles/{profileId}/history',
        '/v1/profiles/{profileId}',
        '/v1/history:batchGet',
        '/v1/history/export',
        '/v1/admin/compactions',
      ]),
    );
  });

  it('carries the request id from HTTP into the Kafka headers, and counts what happened', async () => {
    const profileId = uniqueProfileId();
    const [play] = watchSession(profileId, 'title-1', Date.now() - 60_000);
    const posted = await postJson(`${apps.collector.url}/v1/events`, play, {
      ...(await auth.device(profileId)),
      'x-request-id': 'trace-4242',
    });
    expect(posted.status).toBe(202);
    expect(posted.headers.get('x-request-id')).toBe('trace-4242');
    const [message] = await readTopic(environment.kafka, environment.config.kafka.eventTopic, 1);
    expect(message.headers[HEADERS.requestId]?.toString()).toBe('trace-4242');
    // The request id is the only header: the value says its own version (a header costs ingest nothing, the
    // collector about 5 µs of CPU an event).
    expect(Object.keys(message.headers)).toEqual([HEADERS.requestId]);
    const scraped = await (await fetch(`${apps.collector.url}/metrics`)).text();
    expect(scraped).toMatch(/^viewing_history_events_accepted_total 1$/m);
  });

  // The API writes it through nestjs-pino's request context; the collector, without one (its hot path, session 16),
  // through a pino-http of its own: the same line.
  it.each([
    ['api', 'API_PORT'],
    ['collector', 'COLLECTOR_PORT'],
  ] as const)(
    'logs one line per request at info (%s): its id, method, url, caller address, status and time, and no headers',
    async (name, portVariable) => {
      const app = await AppProcess.start(name, {
        ...environment.env,
        [portVariable]: String(await freePort()),
        LOG_LEVEL: 'info',
      });
      try {
        const profileId = uniqueProfileId();
        const tag = `trace-log-${name}`;
        const credentials = name === 'api' ? auth.recommender : await auth.device(profileId);
        const ask = async (requestId: string) => {
          if (name === 'api')
            return fetch(`${app.url}/v1/profiles/${profileId}/history?limit=5`, {
              headers: { ...auth.recommender, 'x-request-id': requestId },
            });
          const [play] = watchSession(profileId, 'title-1', Date.now() - 60_000);
          return fetch(`${app.url}/v1/events`, {
            method: 'POST',
            headers: { ...credentials, 'content-type': 'application/json', 'x-request-id': requestId },
            body: JSON.stringify(play),
          });
        };
        const response = await ask(tag);
        expect(response.status).toBe(name === 'api' ? 200 : 202);
        // Written when the response finishes, read from the pipe a moment later.
        const linesOf = () =>
          app.logs
            .split('\n')
            .filter((line) => line.includes(`"${tag}"`))
            .map((line) => JSON.parse(line) as { req: Record<string, unknown>; res: Record<string, unknown> });
        for (const deadline = Date.now() + 5_000; linesOf().length === 0 && Date.now() < deadline;)
          await new Promise((resolve) => setTimeout(resolve, 20));
        const lines = linesOf();
        expect(lines).toHaveLength(1);
        const [line] = lines;
        expect(line).toMatchObject({
          msg: 'request completed',
          req:
            name === 'api'
              ? { id: tag, method: 'GET', url: `/v1/profiles/${profileId}/history?limit=5` }
              : { id: tag, method: 'POST', url: '/v1/events' },
          res: { statusCode: name === 'api' ? 200 : 202 },
          responseTime: expect.any(Number),
        });
        expect(line.req.remoteAddress).toBe('127.0.0.1');
        // No headers: the credentials are never written, not even redacted.
        expect(Object.keys(line.req).sort()).toEqual(['id', 'method', 'remoteAddress', 'url']);
        expect(Object.keys(line.res)).toEqual(['statusCode']);
        expect(app.logs).not.toContain(credentials.authorization.slice('Bearer '.length));
        // Probes and scrapes are not logged: a line each would drown the requests (review, session 13: the skip
        // looked at the url relative to the wildcard mount, and never matched).
        await fetch(`${app.url}/health/ready`, { headers: { 'x-request-id': 'probe-log-8' } });
        await fetch(`${app.url}/metrics`, { headers: { 'x-request-id': 'scrape-log-9' } });
        await ask('after-log-10');
        for (const deadline = Date.now() + 5_000; !app.logs.includes('"after-log-10"') && Date.now() < deadline;)
          await new Promise((resolve) => setTimeout(resolve, 20));
        expect(app.logs).toContain('"after-log-10"');
        expect(app.logs).not.toContain('"probe-log-8"');
        expect(app.logs).not.toContain('"scrape-log-9"');
      } finally {
        await app.stop();
      }
    },
  );

  it('sheds requests above the in-flight bound with 503 and Retry-After, and never sheds health', async () => {
    const port = await freePort();
    const narrow = await AppProcess.start('api', {
      ...environment.env,
      API_PORT: String(port),
      HTTP_MAX_IN_FLIGHT: '2',
      LOG_LEVEL: 'info', // a line per request, so that the absence of the refusals' lines means something
    });
    try {
      const history = () =>
        fetch(`${narrow.url}/v1/profiles/${uniqueProfileId()}/history`, { headers: auth.recommender });
      const responses = await Promise.all(Array.from({ length: 40 }, history));
      const statuses = responses.map((r) => r.status);
      expect(statuses).toContain(200);
      expect(statuses).toContain(503);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect(responses.find((r) => r.status === 503)!.headers.get('retry-after')).toBe('1');
      expect((await fetch(`${narrow.url}/health/live`)).status).toBe(200);
      const scraped = await (await fetch(`${narrow.url}/metrics`)).text();
      const shed = (reason: string) =>
        Number(
          new RegExp(`^viewing_history_requests_shed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(scraped)?.[1] ??
            0,
        );
      expect(shed('in_flight')).toBeGreaterThan(0);
      expect(shed('in_flight') + shed('event_loop_delay')).toBe(statuses.filter((s) => s === 503).length);
      // Counted, not logged one by one: shedding answers before the request logger sees the request, so an
      // overloaded process does not also write a synchronous log line per refusal.
      expect(narrow.logs).toMatch(/"statusCode":200/);
      expect(narrow.logs).not.toMatch(/"statusCode":503/);
    } finally {
      await narrow.stop();
    }
  });

  it('sheds while its event loop is far behind (the process was stopped for a while), then recovers', async () => {
    const port = await freePort();
    const app = await AppProcess.start('api', {
      ...environment.env,
      API_PORT: String(port),
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '100',
    });
    const history = () => fetch(`${app.url}/v1/profiles/${uniqueProfileId()}/history`, { headers: auth.recommender });
    try {
      expect((await history()).status).toBe(200);
      process.kill(app.pid!, 'SIGSTOP');
      let answered: Promise<Response>;
      try {
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        answered = history(); // waits in the socket until the process runs again
      } finally {
        process.kill(app.pid!, 'SIGCONT');
      }
      const late = await answered;
      expect(late.status).toBe(503);
      expect(late.headers.get('retry-after')).toBe('1');
      // Still shedding, but never health or metrics.
      expect((await history()).status).toBe(503);
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
      expect((await fetch(`${app.url}/metrics`)).status).toBe(200);
      const deadline = Date.now() + 5_000;
      let status = 0;
      while (Date.now() < deadline && (status = (await history()).status) !== 200)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(status).toBe(200);
      const scraped = await (await fetch(`${app.url}/metrics`)).text();
      expect(scraped).toMatch(/^viewing_history_requests_shed_total\{reason="event_loop_delay"\} [1-9]\d*$/m);
    } finally {
      await app.stop();
    }
  });

  it('stops gracefully within its bound on SIGTERM: ingest leaves its consumer group at once', async () => {
    await apps.ingest.stop();
    const groupId = `${environment.config.ingest.groupId}-sigterm`;
    const app = await AppProcess.start('ingest', {
      ...environment.env,
      INGEST_PORT: String(await freePort()),
      INGEST_GROUP_ID: groupId,
    });
    const admin = environment.kafka.admin();
    await admin.connect();
    try {
      const members = async () => (await admin.describeGroups([groupId])).groups[0].members.length;
      const { eventually } = await import('./support/eventually');
      await eventually(async () => expect(await members()).toBe(1), 30_000, 200);
      const started = Date.now();
      await app.stop();
      expect(Date.now() - started).toBeLessThan(environment.config.http.shutdownTimeoutMs);
      // A crashed member would stay until its session timed out; a graceful one has left already.
      expect(await members()).toBe(0);
      expect(app.logs).not.toMatch(/shutdown took longer/);
    } finally {
      await admin.disconnect();
    }
  });

  it('every app closes cleanly on SIGTERM: its hooks finish before the watchdog would force an exit', async () => {
    for (const name of ['collector', 'api', 'compactor'] as AppName[]) {
      const started = Date.now();
      // Nest runs the shutdown hooks, then re-raises the signal; the watchdog instead exits with 1.
      const app = apps[name].process;
      expect(await app.stop()).toBeNull();
      expect(app.exitSignal).toBe('SIGTERM');
      expect(app.logs).not.toMatch(/shutdown took longer/);
      expect(Date.now() - started).toBeLessThan(environment.config.http.shutdownTimeoutMs);
    }
  });
});
