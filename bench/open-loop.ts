import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface OpenLoopRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/**
 * Sends requests at Poisson arrivals of `ratePerSecond` for `seconds`, whether or not earlier ones were
 * answered: an open loop, as independent clients behave. (autocannon's `overallRate` is a per-second
 * quota per connection, spent closed-loop at the top of each second: bursts, not a rate.) Latency runs
 * from the arrival, so a request waiting for a pooled connection counts as waiting. Resolves when every
 * request has been answered or has failed.
 */
export async function openLoop(
  ratePerSecond: number,
  seconds: number,
  next: () => OpenLoopRequest,
  /**
   * `arrivedAtMs`: since the first arrival. `waitedForSocketMs`: of `ms`, how long the request waited here for a
   * pooled connection before it was sent: time the service never saw (null: it never got one).
   */
  onAnswer: (
    request: OpenLoopRequest,
    status: number | null,
    ms: number,
    arrivedAtMs: number,
    waitedForSocketMs: number | null,
  ) => void,
  options: { warmUrls: string[]; poolSize?: number; timeoutMs?: number },
): Promise<void> {
  const { poolSize = 256, timeoutMs = 10_000 } = options;
  // A pool of connections opened before the clock starts, as long-lived clients (or a gateway) hold:
  // opening hundreds at once overflows the server's accept queue (Node listens with a backlog of 511),
  // and the dropped SYNs come back 1, 3, 7 s later, which measured the kernel, not the service.
  // FIFO keeps every pooled socket in use, so none idles past the server's keep-alive timeout.
  const agent = new http.Agent({ keepAlive: true, maxSockets: poolSize, scheduling: 'fifo' });
  // All at once: a request sent after another was answered would reuse its socket, not open one.
  // Again while short: on a loaded machine warming the second server can outlast the first one's keep-alive
  // timeout (5 s), which closes the idle pooled sockets.
  const short = () =>
    options.warmUrls.length > Object.keys(agent.freeSockets).length ||
    Object.values(agent.freeSockets).some((sockets) => (sockets?.length ?? 0) < poolSize);
  for (let attempt = 0; attempt === 0 || (short() && attempt < 5); attempt++)
    for (const url of options.warmUrls)
      // A pooled socket the server closes as it is reused fails its request ("socket hang up"): the next
      // attempt opens another; the check below still refuses a short pool.
      await Promise.all(Array.from({ length: poolSize }, () => get(agent, url).catch(() => undefined)));
  for (const [name, sockets] of Object.entries(agent.freeSockets)) {
    if ((sockets?.length ?? 0) < poolSize)
      throw new Error(`only ${sockets?.length ?? 0} of ${poolSize} connections to ${name} opened`);
  }
  const pending = new Set<Promise<void>>();
  let started = 0;
  const send = (request: OpenLoopRequest) => {
    const arrived = performance.now();
    let sent: number | null = null;
    const answered = new Promise<void>((resolve) => {
      let settled = false;
      const settle = (status: number | null) => {
        if (settled) return;
        settled = true;
        onAnswer(
          request,
          status,
          performance.now() - arrived,
          arrived - started,
          sent === null ? null : sent - arrived,
        );
        resolve();
      };
      const outgoing = http.request(
        request.url,
        { method: request.method, headers: request.headers, agent, timeout: timeoutMs },
        (response) => {
          response.on('data', () => undefined);
          response.on('end', () => settle(response.statusCode ?? null));
          response.on('error', () => settle(null));
        },
      );
      // The agent hands the request a socket when one of its pool is free: until then it waits in this process.
      outgoing.once('socket', () => (sent = performance.now()));
      outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
      outgoing.on('error', () => settle(null));
      outgoing.end(request.body);
    });
    pending.add(answered);
    void answered.then(() => pending.delete(answered));
  };
  started = performance.now();
  const end = started + seconds * 1000;
  let due = started;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; due <= now && due < end; due += (-Math.log(1 - Math.random()) * 1000) / ratePerSecond) send(next());
      if (due >= end) return resolve();
      setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  });
  while (pending.size > 0) await Promise.all([...pending]);
  agent.destroy();
}

/** Several requests at once each take a socket of their own: how the pool is filled. */
function get(agent: http.Agent, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        response.resume();
        response.on('end', () => resolve());
      })
      .on('error', reject);
  });
}
