import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { pinoHttp } from 'pino-http';
import { pinoHttpOptions } from './request-log.options';

/**
 * The line per request of an app without a request context (ObservabilityModule.forRequestLines): the same
 * pino-http line as nestjs-pino writes, with no AsyncLocalStorage entered.
 */
@Injectable()
export class RequestLineMiddleware implements NestMiddleware {
  private readonly line = pinoHttp(pinoHttpOptions());

  use(request: Request, response: Response, next: NextFunction): void {
    this.line(request, response, next);
  }
}
