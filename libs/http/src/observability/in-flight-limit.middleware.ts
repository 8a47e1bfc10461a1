import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '@vh/config';
import { metrics } from '@vh/metrics';

/**
 * Load shedding, as Netflix's gateway does: above a bound of requests in flight, refuse at once with
 * 503 and Retry-After, so that accepted requests keep their latency and storage is not piled on.
 * Health and metrics are never shed.
 */
@Injectable()
export class InFlightLimitMiddleware implements NestMiddleware {
  private inFlight = 0;

  constructor(private readonly config: AppConfig) {}

  use(request: Request, response: Response, next: NextFunction): void {
    if (request.path.startsWith('/health') || request.path === '/metrics') return next();
    if (this.inFlight >= this.config.http.maxInFlight) {
      metrics.requestsShed.inc();
      response.setHeader('Retry-After', '1');
      response.status(503).json({ error: 'overloaded', message: 'too many requests in flight; retry shortly' });
      return;
    }
    this.inFlight++;
    let done = false;
    const release = () => {
      if (!done) {
        done = true;
        this.inFlight--;
      }
    };
    response.on('finish', release);
    response.on('close', release);
    next();
  }
}
