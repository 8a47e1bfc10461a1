import type { IncomingMessage, ServerResponse } from 'node:http';
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

/**
 * Gives the request its id and answers with it (x-request-id), before anything can refuse it: the first Express
 * middleware of every app (bootstrap), ahead of the body parser, and the first step of a direct route.
 */
export function assignRequestId(request: IncomingMessage, response: ServerResponse): string {
  const id = chooseRequestId(request);
  (request as IncomingMessage & { id: string }).id = id;
  response.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

export function requestIdOf(request: IncomingMessage): string | undefined {
  return (request as IncomingMessage & { id?: string }).id;
}
