import { performance } from 'node:perf_hooks';
import { Injectable, NestMiddleware, OnModuleDestroy } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '@vh/config';
import { metrics } from '@vh/metrics';
import { EventLoopDelayMonitor, LoadShedder } from './load-shedder';

/**
 * Load shedding, as Netflix's gateway does: above a bound of requests in flight (fixed, or adaptive: lowered
 * while answers slow down, ADR 13), or while the process is too far behind to start a request soon, refuse at
 * once with 503 and Retry-After, so that accepted requests keep their latency and storage is not piled on.
 * Health and metrics are never shed.
 */
@Injectable()
export class InFlightLimitMiddleware implements NestMiddleware, OnModuleDestroy {
  private readonly shedder: LoadShedder;

  constructor(config: AppConfig) {
    this.shedder = new LoadShedder(
      { mode: config.http.inFlightLimitMode, max: config.http.maxInFlight },
      config.http.maxEventLoopDelayMs,
      new EventLoopDelayMonitor(),
    );
    metrics.inFlightLimit.set(this.shedder.inFlightLimit);
  }

  use(request: Request, response: Response, next: NextFunction): void {
    // originalUrl, not path: mounted on a wildcard route, `path` is relative to it ('/' for everything),
    // which once had health and metrics shed with the rest.
    const path = request.originalUrl.split('?')[0];
    if (path.startsWith('/health/') || path === '/metrics') return next();
    metrics.eventLoopDelay.set(this.shedder.eventLoopDelayMs / 1000);
    metrics.inFlightLimit.set(this.shedder.inFlightLimit);
    const refused = this.shedder.admit();
    if (refused) {
      metrics.requestsShed.inc({ reason: refused });
      response.setHeader('Retry-After', '1');
      response.status(503).json({ error: 'overloaded', message: 'the service is overloaded; retry shortly' });
      return;
    }
    const admittedAt = performance.now();
    let done = false;
    const release = (answered: boolean) => {
      if (!done) {
        done = true;
        this.shedder.release(answered ? performance.now() - admittedAt : undefined);
      }
    };
    response.on('finish', () => release(true));
    response.on('close', () => release(response.writableFinished));
    next();
  }

  onModuleDestroy(): void {
    this.shedder.stop();
  }
}
