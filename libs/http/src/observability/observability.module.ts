import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule, Params } from 'nestjs-pino';
import pino from 'pino';
import { loadConfig } from '@vh/config';
import { chooseRequestId, RequestIdMiddleware } from '../request-id.middleware';
import { DependencyHealth } from './dependency-health';
import { HealthController } from './health.controller';
import { InFlightLimitMiddleware } from './in-flight-limit.middleware';
import { MetricsController } from './metrics.controller';
import { RequestMetricsMiddleware } from './request-metrics.middleware';

const LOGS_REQUESTS = new Set(['trace', 'debug', 'info']);
/** Read once, for the level and for whether a line is written per request. */
const LOG_LEVEL = loadConfig().logLevel;

/** What the request line is made of (an Express request; pino-http's type is node's, without originalUrl). */
interface RequestLike {
  id?: unknown;
  method?: string;
  url?: string;
  originalUrl?: string;
  socket?: { remoteAddress?: string };
}

/** The url as the caller sent it: a middleware on a wildcard route sees `url` relative to it ('/?…'). */
const urlOf = (request: RequestLike) => request.originalUrl ?? request.url;

/** The request line, and each request's logger. */
const PINO_HTTP: Params['pinoHttp'] = {
  level: LOG_LEVEL,
  genReqId: (request) => chooseRequestId(request as unknown as Parameters<typeof chooseRequestId>[0]),
  // The line is written at info; above it (LOG_LEVEL=warn) no listener is set per request at all.
  autoLogging: LOGS_REQUESTS.has(LOG_LEVEL)
    ? { ignore: (request) => /^\/(health|metrics)/.test(urlOf(request as RequestLike) ?? '') }
    : false,
  // What an operator looks a request up by (the url keeps its query string), and no headers: the
  // credentials are never written, not redacted after the fact; about 250 bytes a line against 800.
  // Behind a proxy `remoteAddress` is the proxy's. What a line costs the read API: BENCHMARKS.md.
  // Unwrapped: the standard serialisers built the whole request (headers too) for every request, even at
  // warn, where pino-http still binds it to the request's logger (bench/ANALYSIS.md, session 13).
  wrapSerializers: false,
  serializers: {
    req: (request: RequestLike) => ({
      id: request.id,
      method: request.method,
      url: urlOf(request),
      remoteAddress: request.socket?.remoteAddress,
    }),
    res: ({ statusCode }: { statusCode: number }) => ({ statusCode }),
  },
  // Synchronous: the last lines before a crash are the ones that matter.
  stream: pino.destination({ dest: 1, sync: true }),
};

/** What a request costs in an app's logging. */
interface ObservabilityOptions {
  /**
   * Each request's log lines carry it (its id): nestjs-pino keeps a request's logger in an AsyncLocalStorage. In
   * Node 20 the first request run in one turns on a hook on every promise of the process for good; in ingest that
   * was 1-2 µs a replayed event (session 15's profile), for health and metrics requests that write no line.
   */
  requestContext: boolean;
}

/**
 * What every app exposes and does alike: /health/live and /health/ready, /metrics, JSON logs with the
 * request id, request latency metrics, and load shedding above the in-flight bound.
 */
@Module({})
export class ObservabilityModule implements NestModule {
  /** Apps that serve requests of their own (api, collector). */
  static forRequests(): DynamicModule {
    return ObservabilityModule.with({ requestContext: true });
  }

  /**
   * Apps whose HTTP is for operators' probes only (health, metrics, the OpenAPI page: ingest, compactor): their
   * lines written during a request (a failed readiness check, a 5xx) carry no request id, and at info no line is
   * written per request; the response still carries x-request-id.
   */
  static forWorkers(): DynamicModule {
    return ObservabilityModule.with({ requestContext: false });
  }

  private static with({ requestContext }: ObservabilityOptions): DynamicModule {
    return {
      module: ObservabilityModule,
      global: true,
      imports: [
        TerminusModule,
        LoggerModule.forRoot({
          // No routes: the request logger is never bound, nor the storage entered; the app's own lines are written.
          ...(requestContext ? {} : { forRoutes: [] }),
          pinoHttp: PINO_HTTP,
        }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [DependencyHealth],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestMetricsMiddleware, InFlightLimitMiddleware, RequestIdMiddleware).forRoutes('*path');
  }
}
