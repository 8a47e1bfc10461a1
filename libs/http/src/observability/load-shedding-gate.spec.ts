import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@vh/config';
import { LoadSheddingGate } from './load-shedding-gate';

/** A server whose listener (the framework's place) holds each request it gets until told to answer. */
async function serverBehind(gate: LoadSheddingGate) {
  const held: ServerResponse[] = [];
  const reached: string[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    reached.push(request.url!);
    if (request.url!.startsWith('/health/')) response.end('ok');
    else held.push(response);
  });
  gate.install(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, held, reached };
}

describe('LoadSheddingGate', () => {
  const gateWith = (env: Record<string, string>) => new LoadSheddingGate(loadConfig({ ...process.env, ...env }));

  it('refuses above the bound before the framework sees the request (its body unread), and never refuses health', async () => {
    const gate = gateWith({
      HTTP_MAX_IN_FLIGHT: '1',
      HTTP_IN_FLIGHT_LIMIT: 'fixed',
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    const { server, url, held, reached } = await serverBehind(gate);
    try {
      const first = fetch(`${url}/v1/events`, { method: 'POST', body: '{"events":[]}' });
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const refused = await fetch(`${url}/v1/events?x=1`, { method: 'POST', body: 'not json at all' });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toEqual({
        error: 'overloaded',
        message: 'the service is overloaded; retry shortly',
      });
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      expect(reached).toEqual(['/v1/events', '/health/live']);
      // Answered, the first frees its place: the next is let through.
      held[0].end('done');
      expect((await first).status).toBe(200);
      const next = fetch(`${url}/v1/events`, { method: 'POST', body: '{}' });
      while (held.length === 1) await new Promise((resolve) => setTimeout(resolve, 5));
      held[1].end('done');
      expect((await next).status).toBe(200);
      expect(reached).toEqual(['/v1/events', '/health/live', '/v1/events']);
    } finally {
      gate.onModuleDestroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('frees the place of a request whose caller went away before it was answered', async () => {
    const gate = gateWith({
      HTTP_MAX_IN_FLIGHT: '1',
      HTTP_IN_FLIGHT_LIMIT: 'fixed',
      HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    const { server, url, held } = await serverBehind(gate);
    try {
      const abort = new AbortController();
      const gone = fetch(`${url}/v1/a`, { signal: abort.signal }).catch(() => 'aborted');
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      abort.abort();
      expect(await gone).toBe('aborted');
      while (!held[0].destroyed) await new Promise((resolve) => setTimeout(resolve, 5));
      const next = fetch(`${url}/v1/b`);
      while (held.length === 1) await new Promise((resolve) => setTimeout(resolve, 5));
      held[1].end('done');
      expect((await next).status).toBe(200);
    } finally {
      gate.onModuleDestroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
