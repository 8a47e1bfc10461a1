import { Global, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { loadConfig } from '@vh/config';
import { chooseRequestId, RequestIdMiddleware } from '../request-id.middleware';
import { DependencyHealth } from './dependency-health';
import { HealthController } from './health.controller';
import { InFlightLimitMiddleware } from './in-flight-limit.middleware';
import { MetricsController } from './metrics.controller';
import { RequestMetricsInterceptor } from './request-metrics.interceptor';

/**
 * What every app exposes and does alike: /health/live and /health/ready, /metrics, JSON logs with the
 * request id, request latency metrics, and load shedding above the in-flight bound.
 */
@Global()
@Module({
  imports: [
    TerminusModule,
    LoggerModule.forRoot({
      pinoHttp: {
        level: loadConfig().logLevel,
        genReqId: (request) => chooseRequestId(request as unknown as Parameters<typeof chooseRequestId>[0]),
        autoLogging: { ignore: (request) => /^\/(health|metrics)/.test(request.url ?? '') },
        // What an operator looks a request up by (the url keeps its query string), and no headers: the
        // credentials are never written, not redacted after the fact; about 250 bytes a line against 800.
        // Behind a proxy `remoteAddress` is the proxy's. What a line costs the read API: BENCHMARKS.md.
        serializers: {
          req: ({ id, method, url, remoteAddress }: pino.SerializedRequest) => ({ id, method, url, remoteAddress }),
          res: ({ statusCode }: pino.SerializedResponse) => ({ statusCode }),
        },
        // Synchronous: the last lines before a crash are the ones that matter.
        stream: pino.destination({ dest: 1, sync: true }),
      },
    }),
  ],
  controllers: [HealthController, MetricsController],
  providers: [DependencyHealth, { provide: APP_INTERCEPTOR, useClass: RequestMetricsInterceptor }],
})
export class ObservabilityModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(InFlightLimitMiddleware, RequestIdMiddleware).forRoutes('*path');
  }
}
