import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when it is acceptable, else a new one; the same for logs and Kafka headers. */
export function chooseRequestId(request: {
  headers: Record<string, string | string[] | undefined>;
  id?: unknown;
}): string {
  if (typeof request.id === 'string') return request.id;
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
}

/** Carries the request id through the response and into Kafka headers. */
@Injectable()
export class RequestIdMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    const id = chooseRequestId(request as unknown as Parameters<typeof chooseRequestId>[0]);
    (request as Request & { id: string }).id = id;
    response.setHeader(REQUEST_ID_HEADER, id);
    next();
  }
}

export function requestIdOf(request: Request): string | undefined {
  return (request as Request & { id?: string }).id;
}
