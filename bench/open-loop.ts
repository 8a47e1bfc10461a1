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
 * from the arrival, so a request waiting for a socket counts as waiting. Resolves when every request
 * has been answered or has failed.
 */
export async function openLoop(
  ratePerSecond: number,
  seconds: number,
  next: () => OpenLoopRequest,
  onAnswer: (request: OpenLoopRequest, status: number | null, ms: number) => void,
  timeoutMs = 10_000,
): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1_024 });
  const pending = new Set<Promise<void>>();
  const send = (request: OpenLoopRequest) => {
    const arrived = performance.now();
    const answered = new Promise<void>((resolve) => {
      let settled = false;
      const settle = (status: number | null) => {
        if (settled) return;
        settled = true;
        onAnswer(request, status, performance.now() - arrived);
        resolve();
      };
      const outgoing = http.request(request.url, { method: request.method, headers: request.headers, agent, timeout: timeoutMs }, (response) => {
        response.on('data', () => undefined);
        response.on('end', () => settle(response.statusCode ?? null));
        response.on('error', () => settle(null));
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
      outgoing.on('error', () => settle(null));
      outgoing.end(request.body);
    });
    pending.add(answered);
    void answered.then(() => pending.delete(answered));
  };
  const started = performance.now();
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
