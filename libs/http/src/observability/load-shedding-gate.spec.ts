import { request as httpRequest, ServerResponse } from 'node:http';
import { loadConfig } from '@vh/config';
import { metrics } from '@vh/metrics';
import { listening, waitFor } from '../testing/listening';
import { LoadSheddingGate } from './load-shedding-gate';

/** A server whose listener (the framework's place) holds each request it gets until told to answer. */
async function serverBehind(gate: LoadSheddingGate) {
  const held: ServerResponse[] = [];
  const reached: string[] = [];
  const { url, close } = await listening(gate, (request, response) => {
    reached.push(request.url!);
    if (request.url!.startsWith('/v1/')) held.push(response);
    else response.end('ok');
  });
  /** Waits for the listener to hold `count` requests. */
  const holding = async (count: number) => {
    await waitFor(() => held.length >= count);
    expect(held.length).toBe(count);
  };
  return { close, url, held, reached, holding };
}

const shedForInFlight = async () =>
  (await metrics.requestsShed.get()).values.find((v) => v.labels.reason === 'in_flight')?.value ?? 0;

describe('LoadSheddingGate', () => {
  const boundOfOne = () =>
    new LoadSheddingGate(
      loadConfig({
        ...process.env,
        HTTP_MAX_IN_FLIGHT: '1',
        HTTP_IN_FLIGHT_LIMIT: 'fixed',
        HTTP_MAX_EVENT_LOOP_DELAY_MS: '0',
      }),
    );

  it("refuses above the bound before the framework sees the request, counts it, and never refuses probes or the console's page", async () => {
    const gate = boundOfOne();
    const { close, url, held, reached, holding } = await serverBehind(gate);
    try {
      const first = fetch(`${url}/v1/events`, { method: 'POST', body: '{"events":[]}' });
      await holding(1);
      const shedBefore = await shedForInFlight();
      const refused = await fetch(`${url}/v1/events?x=1`, { method: 'POST', body: 'not json at all' });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toEqual({
        error: 'overloaded',
        message: 'the service is overloaded; retry shortly',
      });
      expect(await shedForInFlight()).toBe(shedBefore + 1);
      // Never shed: probes and the console's page and files (an overload is when they are needed).
      const neverShed = ['/health/live', '/health/ready', '/metrics', '/console', '/console/assets/console.js'];
      for (const path of neverShed) expect((await fetch(`${url}${path}`)).status).toBe(200);
      expect(await shedForInFlight()).toBe(shedBefore + 1);
      // Exact paths: nothing else escapes both bounds by its prefix, the console's API calls included.
      for (const path of ['/consoles', '/console/session', '/health/anything', '/v1/admin/overview'])
        expect((await fetch(`${url}${path}`)).status).toBe(503);
      // Nor by its method: a post to a probe's path is the framework's 404, not a probe.
      expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(503);
      expect(reached).toEqual(['/v1/events', ...neverShed]);
      // Answered, the first frees its place: the next is let through.
      held[0].end('done');
      expect((await first).status).toBe(200);
      const next = fetch(`${url}/v1/events`, { method: 'POST', body: '{}' });
      await holding(2);
      held[1].end('done');
      expect((await next).status).toBe(200);
      expect(reached).toEqual(['/v1/events', ...neverShed, '/v1/events']);
    } finally {
      close();
    }
  });

  it('refuses a request that expects 100-continue before telling it to send its body; admitted, it is told', async () => {
    const gate = boundOfOne();
    const { close, url, held, reached, holding } = await serverBehind(gate);
    const post = () =>
      new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
        let continued = false;
        const request = httpRequest(`${url}/v1/events`, { method: 'POST', headers: { expect: '100-continue' } });
        request.on('continue', () => {
          continued = true;
          request.end('{"events":[]}');
        });
        request.on('response', (response) => {
          response.resume();
          resolve({ status: response.statusCode!, continued });
        });
        request.on('error', reject);
        request.flushHeaders();
      });
    try {
      const first = post();
      await holding(1);
      expect(await post()).toEqual({ status: 503, continued: false });
      held[0].end('done');
      expect(await first).toEqual({ status: 200, continued: true });
      expect(reached).toEqual(['/v1/events']);
    } finally {
      close();
    }
  });

  it('frees the place of a request whose caller went away before it was answered', async () => {
    const gate = boundOfOne();
    const { close, url, held, holding } = await serverBehind(gate);
    try {
      const abort = new AbortController();
      const gone = fetch(`${url}/v1/a`, { signal: abort.signal }).catch(() => 'aborted');
      await holding(1);
      abort.abort();
      expect(await gone).toBe('aborted');
      await waitFor(() => held[0].destroyed);
      const next = fetch(`${url}/v1/b`);
      await holding(2);
      held[1].end('done');
      expect((await next).status).toBe(200);
    } finally {
      close();
    }
  });

  it("learns the process's own time (to the answer's headers), not a slow stream's: the adaptive bound holds", async () => {
    const gate = new LoadSheddingGate(
      loadConfig({
        ...process.env,
        HTTP_MAX_IN_FLIGHT: '16',
        HTTP_IN_FLIGHT_LIMIT: 'adaptive',
        HTTP_IN_FLIGHT_TOLERANCE: '1.5',
      }),
    );
    let streamMs = 0;
    const { url: origin, close } = await listening(gate, (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first');
      setTimeout(() => response.end('last'), streamMs);
    });
    const url = `${origin}/v1/stream`;
    const rounds = async (ms: number, forMs: number) => {
      streamMs = ms;
      for (const until = Date.now() + forMs; Date.now() < until;) {
        const statuses = await Promise.all(Array.from({ length: 12 }, async () => (await fetch(url)).text()));
        expect(statuses).toHaveLength(12);
      }
    };
    const bound = async () => (await metrics.inFlightLimit.get()).values[0].value;
    try {
      await rounds(0, 1_500); // learns its usual latency: a few ms
      expect(await bound()).toBeGreaterThanOrEqual(12);
      await rounds(150, 2_500); // answers begun at once, streamed for 150 ms: 12 in flight, more than half
      // Not 16 exactly: a pause of this busy machine inside a window or two can take a few off; timed to the
      // finish, the bound fell to its floor (8).
      expect(await bound()).toBeGreaterThanOrEqual(12);
    } finally {
      close();
    }
  });
});
