import { DynamicModule, Inject, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { DependencyHealth } from './dependency-health';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { LoadSheddingGate } from './load-shedding-gate';
import { LOGS_EACH_REQUEST, pinoHttpOptions } from './request-log.options';
import { RequestLineMiddleware } from './request-line.middleware';
import { RequestMetricsMiddleware } from './request-metrics.middleware';

/**
 * What a request costs in an app's logging:
 * - `context`: each request's log lines carry it (its id): nestjs-pino keeps a request's logger in an
 *   AsyncLocalStorage, and writes the line per request (at info). In Node 20 the first request run in one turns on
 *   a hook on every promise of the process for good; in ingest that was 1-2 µs a replayed event (session 15's
 *   profile), for health and metrics requests that write no line; in the collector at LOG_LEVEL=warn, posts of 100
 *   events, its events/s without it (and without the pino-http logger nestjs-pino still makes a request at warn)
 *   were 1.09, 0.98 and 1.10 of those with them in three paired runs (session 16,
 *   bench/profiling/collector-overhead.ts): about 6%, within this machine's noise run by run.
 * - `lines`: the same line per request (at info), with its id, method, url, caller address, status and time; no
 *   context.
 * - `none`: no line per request, no context.
 */
type RequestLogging = 'context' | 'lines' | 'none';

const REQUEST_LOGGING = Symbol('RequestLogging');

/**
 * What every app exposes and does alike: /health/live and /health/ready, /metrics, JSON logs with the
 * request id, request latency metrics, and load shedding above the in-flight bound.
 */
@Module({})
export class ObservabilityModule implements NestModule {
  constructor(@Inject(REQUEST_LOGGING) private readonly requestLogging: RequestLogging) {}

  /** Apps that serve requests of their own, whose every line written in a request carries its id (api). */
  static forRequests(): DynamicModule {
    return ObservabilityModule.with('context');
  }

  /**
   * Apps whose requests are the hot path (the collector): the same line per request, without the request context.
   * A line written inside a request carries its id only where it names it (the error filter's, the publisher's).
   */
  static forRequestLines(): DynamicModule {
    return ObservabilityModule.with('lines');
  }

  /**
   * Apps whose HTTP is for operators' probes only (health, metrics, the OpenAPI page: ingest, compactor): their
   * lines written during a request (a failed readiness check, a 5xx) carry no request id, and at info no line is
   * written per request; the response still carries x-request-id (createHttpApp gives it).
   */
  static forWorkers(): DynamicModule {
    return ObservabilityModule.with('none');
  }

  private static with(requestLogging: RequestLogging): DynamicModule {
    return {
      module: ObservabilityModule,
      global: true,
      imports: [
        TerminusModule,
        LoggerModule.forRoot({
          // No routes: the request logger is never bound, nor the storage entered; the app's own lines are written.
          ...(requestLogging === 'context' ? {} : { forRoutes: [] }),
          pinoHttp: pinoHttpOptions(),
        }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [DependencyHealth, LoadSheddingGate, { provide: REQUEST_LOGGING, useValue: requestLogging }],
      // For an app's direct routes (DirectRoute), served behind it.
      exports: [LoadSheddingGate],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Without the context, the line per request is written by a pino-http of its own, bound only when it writes;
    // first, as nestjs-pino's is. A shed request has none: it is refused before the framework (LoadSheddingGate).
    if (this.requestLogging === 'lines' && LOGS_EACH_REQUEST)
      consumer.apply(RequestLineMiddleware).forRoutes('{*path}'); // as nestjs-pino's: `/` too
    consumer.apply(RequestMetricsMiddleware).forRoutes('*path');
  }
}
