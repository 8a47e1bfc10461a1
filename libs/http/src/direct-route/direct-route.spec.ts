import { connect } from 'node:net';
import { request as httpRequest, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { AppConfig, loadConfig } from '@vh/config';
import { InvalidInputError } from '@vh/domain';
import { metrics } from '@vh/metrics';
import { AccessTokens, mintAccessToken } from '../auth/access-tokens';
import { Caller, SCOPES } from '../auth/caller';
import { LoadSheddingGate } from '../observability/load-shedding-gate';
import { listening, waitFor } from '../testing/listening';
import { DirectAnswer, DirectRoute } from './direct-route';

type Work = (body: unknown, caller: Caller, requestId: string) => Promise<DirectAnswer>;

/** A direct route whose work the test sets; it records what it was handed. */
class ThingsRoute extends DirectRoute {
  work: Work = async () => ({ status: 202, body: { done: true } });
  readonly handed: { body: unknown; subject: string; requestId: string }[] = [];

  constructor(config: AppConfig) {
    super(
      { method: 'POST', path: '/v1/things', access: { scope: SCOPES.eventsWrite } },
      new AccessTokens(config),
      1024,
    );
  }

  protected answer(body: unknown, caller: Caller, requestId: string): Promise<DirectAnswer> {
    this.handed.push({ body, subject: caller.subject, requestId });
    return this.work(body, caller, requestId);
  }
}

/** The raw answer to bytes sent as they are (no client adding or fixing headers). */
function rawExchange(url: string, head: string, body = ''): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(`${head}\r\nconnection: close\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

const count = async (labels: Record<string, string>) =>
  (await metrics.httpRequestDuration.get()).values.find(
    (v) =>
      v.metricName?.endsWith('_count') &&
      Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  )?.value ?? 0;

describe('DirectRoute', () => {
  const config = loadConfig({ ...process.env, HTTP_IN_FLIGHT_LIMIT: 'fixed', HTTP_MAX_EVENT_LOOP_DELAY_MS: '0' });
  let route: ThingsRoute;
  let framework: string[];
  let server: Awaited<ReturnType<typeof listening>>;
  let device: Record<string, string>;
  const json = { 'content-type': 'application/json' };

  beforeEach(async () => {
    route = new ThingsRoute(config);
    framework = [];
    const gate = new LoadSheddingGate(config);
    gate.serveDirectly(route);
    server = await listening(gate, (request, response) => {
      framework.push(`${request.method} ${request.url} ${request.headers['content-type'] ?? '-'}`);
      request.resume();
      request.on('end', () => response.end('framework'));
    });
    device = { authorization: `Bearer ${await mintAccessToken(config, { kind: 'device', profiles: ['p1'] })}` };
  });
  afterEach(() => server.close());

  it('serves a plain JSON post itself: the body parsed, the caller checked, the answer sent as JSON and timed', async () => {
    const timed = await count({ route: '/v1/things', status: '202' });
    const response = await fetch(`${server.url}/v1/things?x=1`, {
      method: 'POST',
      headers: { ...device, 'content-type': 'Application/JSON; charset="UTF-8"', 'x-request-id': 'trace-1' },
      body: ' {"a":[1,"two"]}',
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('x-request-id')).toBe('trace-1');
    expect(await response.json()).toEqual({ done: true });
    expect(route.handed).toEqual([{ body: { a: [1, 'two'] }, subject: 'device-local', requestId: 'trace-1' }]);
    expect(framework).toEqual([]);
    expect(await count({ route: '/v1/things', status: '202' })).toBe(timed + 1);
    // A request id of its own when the caller gave none (or an unacceptable one).
    const unnamed = await fetch(`${server.url}/v1/things`, {
      method: 'POST',
      headers: { ...device, ...json, 'x-request-id': 'no spaces allowed' },
      body: '[]',
    });
    expect(unnamed.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(route.handed[1]).toEqual({
      body: [],
      subject: 'device-local',
      requestId: unnamed.headers.get('x-request-id'),
    });
  });

  it('leaves to the framework what it does not take: another method, path, content type, charset or encoding', async () => {
    const post = (path: string, headers: Record<string, string>) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { ...device, ...headers }, body: '{}' });
    for (const [path, headers] of [
      ['/v1/things/', json],
      ['/v1/thingsx', json],
      ['/v1/things', { 'content-type': 'text/plain' }],
      ['/v1/things', { 'content-type': 'application/json; charset=latin1' }],
      ['/v1/things', { 'content-type': 'application/json; charset=utf8' }],
      ['/v1/things', { 'content-type': 'application/json; charset=utf-8=x' }],
      ['/v1/things', { 'content-type': 'application/json; charset=utf-8; q=1' }],
      ['/v1/things', { 'content-type': 'application/jsonx' }],
      ['/v1/things', { 'content-type': 'application/json\u00a0' }],
      ['/v1/things', { ...json, 'content-encoding': 'gzip' }],
    ] as const)
      expect(await (await post(path, headers)).text()).toBe('framework');
    expect(await (await fetch(`${server.url}/v1/things`, { headers: device })).text()).toBe('framework');
    expect(await rawExchange(server.url, 'POST /v1/things HTTP/1.1\r\nhost: x\r\ncontent-length: 2', '{}')).toMatch(
      /framework$/,
    );
    expect(framework).toHaveLength(12);
    expect(route.handed).toEqual([]);
  });

  it('answers a missing or insufficient token as the guard does, after the body, as the framework orders them', async () => {
    const anonymous = await fetch(`${server.url}/v1/things`, { method: 'POST', headers: json, body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="viewing-history"');
    expect(await anonymous.json()).toEqual({ error: 'unauthenticated', message: 'a bearer token is required' });
    const recommender = `Bearer ${await mintAccessToken(config, { kind: 'recommender' })}`;
    const lacking = await fetch(`${server.url}/v1/things`, {
      method: 'POST',
      headers: { ...json, authorization: recommender },
      body: '{}',
    });
    expect(lacking.status).toBe(403);
    expect(await lacking.json()).toEqual({ error: 'forbidden', message: 'the token lacks the scope events:write' });
    // The body first: bad JSON without a token is the parser's 400, as the framework answers it.
    const both = await fetch(`${server.url}/v1/things`, { method: 'POST', headers: json, body: '{' });
    expect(both.status).toBe(400);
    expect(route.handed).toEqual([]);
  });

  it('reads the body as the JSON parser does: strict, empty is {}, none is undefined, a BOM dropped', async () => {
    const post = (body: string | Buffer) =>
      fetch(`${server.url}/v1/things`, { method: 'POST', headers: { ...device, ...json }, body });
    const timed = await count({ route: '/v1/things', status: '400' });
    for (const bad of ['{', '"a string"', '12', 'null', '  x']) {
      const response = await post(bad);
      expect(response.status).toBe(400);
      expect(response.headers.get('x-request-id')).toBeTruthy();
      expect(await response.json()).toEqual({ error: 'invalid_json', message: 'the body is not valid JSON' });
    }
    // Refused by the parser, as in the framework: answered with its id, not timed (nor lined).
    expect(await count({ route: '/v1/things', status: '400' })).toBe(timed);
    expect((await post('')).status).toBe(202);
    expect((await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"b":1}')]))).status).toBe(202);
    const none = await rawExchange(
      server.url,
      `POST /v1/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: ${device.authorization}`,
    );
    expect(none).toMatch(/^HTTP\/1.1 202/);
    expect(route.handed.map((h) => h.body)).toEqual([{}, { b: 1 }, undefined]);
  });

  it('refuses a body over the limit, declared or streamed, with 413 once it has read the rest, as the parser does', async () => {
    const declared = await rawExchange(
      server.url,
      `POST /v1/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1025`,
      'x'.repeat(1025),
    );
    expect(declared).toMatch(/^HTTP\/1.1 413/);
    expect(declared).toContain('"error":"payload_too_large"');
    const streamed = await new Promise<{ status: number; connection?: string; body: string }>((resolve, reject) => {
      const request = httpRequest(`${server.url}/v1/things`, { method: 'POST', headers: { ...device, ...json } });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode!, connection: response.headers.connection, body }),
        );
      });
      request.on('error', reject);
      request.write(`{"pad":"${'x'.repeat(2_000)}`); // chunked, no length declared
      setTimeout(() => request.end('"}'), 50); // the answer waits for the rest: a reset would lose it
    });
    // Read to its end, the connection stays usable (no reset of an upload still coming).
    expect(streamed).toEqual({
      status: 413,
      connection: 'keep-alive',
      body: JSON.stringify({ error: 'payload_too_large', message: 'the body is too large' }),
    });
    expect(route.handed).toEqual([]);
  });

  it("maps the work's errors in the one place: a typed error to its status, anything else to a logged 500", async () => {
    const post = () =>
      fetch(`${server.url}/v1/things`, { method: 'POST', headers: { ...device, ...json }, body: '{}' });
    route.work = () => Promise.reject(new InvalidInputError([{ field: 'positionMs', message: 'must be a number' }]));
    const invalid = await post();
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({
      error: 'invalid_input',
      message: 'the request is invalid',
      issues: [{ field: 'positionMs', message: 'must be a number' }],
    });
    const written = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      route.work = () => Promise.reject(new Error('a bug'));
      const failed = await post();
      expect(failed.status).toBe(500);
      expect(await failed.json()).toEqual({ error: 'internal_error', message: 'internal error' });
      expect(written).toHaveBeenCalledWith({
        requestId: failed.headers.get('x-request-id'),
        msg: expect.stringMatching(/^Error: a bug/),
      });
    } finally {
      written.mockRestore();
    }
  });

  it('is behind the gate: shed and bounded as any request', async () => {
    const one = loadConfig({ ...process.env, HTTP_MAX_IN_FLIGHT: '1', HTTP_IN_FLIGHT_LIMIT: 'fixed' });
    const gate = new LoadSheddingGate(one);
    const held = new ThingsRoute(one);
    let release!: () => void;
    held.work = () => new Promise((resolve) => (release = () => resolve({ status: 202, body: {} })));
    gate.serveDirectly(held);
    const bounded = await listening(gate, (_request, response: ServerResponse) => response.end('framework'));
    try {
      const post = () =>
        fetch(`${bounded.url}/v1/things`, { method: 'POST', headers: { ...device, ...json }, body: '{}' });
      const first = post();
      await waitFor(() => held.handed.length === 1);
      expect((await post()).status).toBe(503);
      release();
      expect((await first).status).toBe(202);
      expect(held.handed).toHaveLength(1);
    } finally {
      bounded.close();
    }
  });
});
