import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { metrics } from '@vh/metrics';

/**
 * Latency of every request by method, route template (not the URL, so profile ids do not explode the label
 * set) and the status sent: refusals by the guard (401/403) and by shedding (503) included, which an
 * interceptor, running after both, never saw. A middleware rather than an interceptor: with no interceptor
 * Nest calls the handler without its rxjs chain, about 7% of the read API's CPU a read (issue 14, BENCHMARKS.md).
 */
@Injectable()
export class RequestMetricsMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    const stop = metrics.httpRequestDuration.startTimer({ method: request.method });
    // Once the response is sent the route is known and the status final (errors mapped by the filter);
    // a request no route took (shed, or no such path) is `unmatched`.
    response.once('finish', () =>
      stop({
        route: (request.route as { path?: string } | undefined)?.path ?? 'unmatched',
        status: String(response.statusCode),
      }),
    );
    next();
  }
}
