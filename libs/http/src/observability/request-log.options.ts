import pino from 'pino';
import type { Options as PinoHttpOptions } from 'pino-http';
import { loadConfig } from '@vh/config';
import { chooseRequestId } from '../request-id';

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

/**
 * The request line, and each request's logger. A new object each time, with a destination of its own: nestjs-pino
 * keeps the object it is given (its root logger's), and an app without a request context has a pino-http of its own.
 */
export const pinoHttpOptions = (): PinoHttpOptions => ({
  level: LOG_LEVEL,
  genReqId: (request) => chooseRequestId(request as unknown as Parameters<typeof chooseRequestId>[0]),
  // The line is written at info; above it (LOG_LEVEL=warn) no listener is set per request at all.
  autoLogging: LOGS_EACH_REQUEST
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
});

/** Whether a line is written per request at all (at info and below). */
export const LOGS_EACH_REQUEST = LOGS_REQUESTS.has(LOG_LEVEL);
