import { Injectable, NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { metrics } from '@vh/metrics';

/**
 * Latency of the requests that reach Nest's middleware (every route but `/`; not a body the JSON parser refused
 * before it, nor a request shed before the framework: `viewing_history_requests_shed_total` counts those), by
 * method, route template (not the URL, so profile ids do not explode the label set) and the status sent: refusals
 * by the guard (401/403) included, which an interceptor, running after it, never saw. A middleware rather than an
 * interceptor: with no interceptor Nest calls the handler without its rxjs chain, the largest single saving on the
 * read API's CPU a read (bench/ANALYSIS.md, session 13). Routes served before the framework (DirectRoute) time
 * themselves the same way (timeRequest), refused bodies included.
 */
@Injectable()
export class RequestMetricsMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    timeRequest(request, response, () => (request.route as { path?: string } | undefined)?.path ?? 'unmatched');
    next();
  }
}

/**
 * Times a request into the histogram. Once the response is sent the route is known and the status final (errors
 * mapped); a request no route took (no such path) is `unmatched`. A caller that gave up first (`close` without
 * `finish`) is timed too, with the status set so far: its wait counts in the tail.
 */
export function timeRequest(request: IncomingMessage, response: ServerResponse, routeOf: () => string): void {
  const stop = metrics.httpRequestDuration.startTimer({ method: request.method });
  let done = false;
  const record = () => {
    if (done) return;
    done = true;
    stop({ route: routeOf(), status: String(response.statusCode) });
  };
  response.once('finish', record);
  response.once('close', record);
}
