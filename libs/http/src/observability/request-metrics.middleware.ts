import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { metrics } from '@vh/metrics';

/**
 * Latency of the requests that reach Nest's middleware (every route but `/`; not a body the JSON parser refused
 * before it, nor a request shed before the framework: `viewing_history_requests_shed_total` counts those), by
 * method, route template (not the URL, so profile ids do not explode the label set) and the status sent: refusals
 * by the guard (401/403) included, which an interceptor, running after it, never saw. A middleware rather than an interceptor: with no interceptor Nest calls the handler without its rxjs
 * chain, the largest single saving on the read API's CPU a read (bench/ANALYSIS.md, session 13).
 */
@Injectable()
export class RequestMetricsMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    const stop = metrics.httpRequestDuration.startTimer({ method: request.method });
    // Once the response is sent the route is known and the status final (errors mapped by the filter); a request
    // no route took (no such path) is `unmatched`. A caller that gave up first (`close` without `finish`)
    // is timed too, with the status set so far: its wait counts in the tail.
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
      stop({ route, status: String(response.statusCode) });
    };
    response.once('finish', record);
    response.once('close', record);
    next();
  }
}
