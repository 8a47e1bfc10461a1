import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AppConfig } from '@vh/config';
import { metrics } from '@vh/metrics';
import { pathOf } from '../request-path';
import { EventLoopDelayMonitor, LoadShedder } from './load-shedder';

const OVERLOADED = JSON.stringify({ error: 'overloaded', message: 'the service is overloaded; retry shortly' });

/**
 * Exact paths, none with a token to check: a prefix would let anyone, signed in or not, send past both bounds
 * requests that cost a token check or a 404 through the framework (review, session 18).
 */
const NEVER_SHED = new Set([
  '/health/live',
  '/health/ready',
  '/metrics',
  '/console',
  '/console/assets/index.html',
  '/console/assets/console.js',
  '/console/assets/console.css',
]);

/** A route served before the framework (DirectRoute). */
export interface DirectlyServed {
  takes(request: IncomingMessage): boolean;
  serve(request: IncomingMessage, response: ServerResponse): void;
}

/** Servers with a gate in front already: a second would count each request twice, halving the bound. */
const gated = new WeakSet<Server>();

/**
 * Load shedding, as Netflix's gateway does: above a bound of requests in flight (fixed, or adaptive: lowered
 * while answers slow down, ADR 13), or while the process is too far behind to start a request soon, refuse at
 * once with 503 and Retry-After, so that accepted requests keep their latency and storage is not piled on.
 * Probes (health, metrics) and the console's page and files are never shed: an overload is when the orchestrator
 * and an operator need them. The console's API calls (`/v1/admin/`) are shed as any request: they check a token.
 *
 * In front of the framework, on the server's request event: refused by Nest middleware, a request cost the API
 * 105-120 µs of CPU and the collector 228-234 µs (its body parsed first); here 25 and 57-60 µs
 * (bench/profiling/shed-cost.ts, session 18). An overloaded process must refuse at the arrival rate, or requests
 * wait unread in its sockets. So a refusal has no request line, no x-request-id and no latency in the request
 * histogram: it is counted in `viewing_history_requests_shed_total`.
 */
@Injectable()
export class LoadSheddingGate implements OnModuleInit, OnApplicationShutdown {
  private readonly shedder: LoadShedder;
  private readonly direct: DirectlyServed[] = [];

  constructor(
    config: AppConfig,
    private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.shedder = new LoadShedder(
      {
        mode: config.http.inFlightLimitMode,
        max: config.http.maxInFlight,
        tolerance: config.http.inFlightTolerance,
      },
      config.http.maxEventLoopDelayMs,
      new EventLoopDelayMonitor(),
    );
    metrics.inFlightLimit.set(this.shedder.inFlightLimit);
  }

  /** Every Nest HTTP app gets the gate, however it was bootstrapped (its server exists from its creation). */
  onModuleInit(): void {
    const server = this.adapterHost?.httpAdapter?.getHttpServer() as Server | undefined;
    if (server) this.install(server);
  }

  /** Puts admission in front of the server's request listeners (the framework's); once a server. */
  install(server: Server): void {
    if (gated.has(server)) return;
    gated.add(server);
    const listeners = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    const pass = (request: IncomingMessage, response: ServerResponse) => {
      const direct = this.direct.find((route) => route.takes(request));
      if (direct) direct.serve(request, response);
      else for (const listener of listeners) listener(request, response);
    };
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (this.admitted(request, response)) pass(request, response);
    });
    // `Expect: 100-continue`: refused before the client is told to send its body (without this listener Node
    // answers 100 itself and emits 'request' only once the body is on its way).
    server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
      if (!this.admitted(request, response)) return;
      response.writeContinue();
      pass(request, response);
    });
  }

  /**
   * Admitted requests that `route` takes are served by it instead of the framework (a DirectRoute): behind the
   * gate, so they are shed and bounded as any request.
   */
  serveDirectly(route: DirectlyServed): void {
    this.direct.push(route);
  }

  private admitted(request: IncomingMessage, response: ServerResponse): boolean {
    if ((request.method === 'GET' || request.method === 'HEAD') && NEVER_SHED.has(pathOf(request.url))) return true;
    metrics.eventLoopDelay.set(this.shedder.eventLoopDelayMs / 1000);
    metrics.inFlightLimit.set(this.shedder.inFlightLimit);
    const refused = this.shedder.admit();
    if (refused) {
      metrics.requestsShed.inc({ reason: refused });
      response.writeHead(503, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(OVERLOADED),
        'retry-after': '1',
      });
      response.end(OVERLOADED);
      return false;
    }
    // The latency the bound learns from is the process's own time: from the body received (a slow upload is the
    // caller's network) to the answer's headers written (a slow reader's drain, an export's stream of minutes are
    // not the process being slow). The place in flight is held until the answer is finished, as before.
    let startedAt = performance.now();
    let headersAt: number | null = null;
    request.once('end', () => {
      if (headersAt === null) startedAt = performance.now();
    });
    const writeHead = response.writeHead;
    response.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      headersAt ??= performance.now();
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
    let done = false;
    // A caller gone before the answer releases without a latency: how long it waited says nothing of the process.
    const release = (answered: boolean) => {
      if (!done) {
        done = true;
        this.shedder.release(answered ? (headersAt ?? performance.now()) - startedAt : undefined);
      }
    };
    response.on('finish', () => release(true));
    response.on('close', () => release(response.writableFinished));
    return true;
  }

  // At shutdown, not module destroy: the server still drains kept-alive connections after the destroy hooks, and
  // a stopped monitor would hold its last delay for them.
  onApplicationShutdown(): void {
    this.shedder.stop();
  }
}
