import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { finalize, Observable } from 'rxjs';
import { metrics } from '@vh/metrics';

/** Latency per route template (not per URL, so profile ids do not explode the label set). */
@Injectable()
export class RequestMetricsInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    const stop = metrics.httpRequestDuration.startTimer({ method: request.method });
    return next.handle().pipe(
      finalize(() => {
        const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
        // The status is final once the response finishes (errors are mapped by the filter after this).
        response.once('finish', () => stop({ route, status: String(response.statusCode) }));
      }),
    );
  }
}
