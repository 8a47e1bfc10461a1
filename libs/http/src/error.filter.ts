import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  CorruptHistoryError,
  DependencyUnavailableError,
  ErasureInProgressError,
  NotSupportedAcrossRegionsError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RedriveRefusedError,
  UnauthenticatedError,
  ViewingHistoryError,
} from '@vh/domain';
import { requestIdOf } from './request-id';

/** The body of every error response. */
export interface ErrorBody {
  error: string;
  message: string;
  issues?: { field: string; message: string }[];
}

/** Body-parser errors carry an HTTP status and a type; map the ones a client can cause. */
const BODY_PARSER_ERRORS: Record<string, { status: number; error: string; message: string }> = {
  'entity.parse.failed': { status: 400, error: 'invalid_json', message: 'the body is not valid JSON' },
  'entity.too.large': { status: 413, error: 'payload_too_large', message: 'the body is too large' },
  // The caller left before its body arrived: its fault, not a 5xx of ours (no one reads this answer).
  'request.aborted': { status: 400, error: 'request_aborted', message: 'the body was cut short' },
  'encoding.unsupported': { status: 415, error: 'unsupported_encoding', message: 'the body encoding is not supported' },
  'charset.unsupported': { status: 415, error: 'unsupported_charset', message: 'the body charset is not supported' },
};

/** What a 409 `erasure_in_progress` tells the caller, by what was refused. */
const ERASURE_IN_PROGRESS_MESSAGES: Record<ErasureInProgressError['during'], string> = {
  redrive: "these dead letters' profiles are being erased; nothing was re-driven; retry once the erasure finished",
  erasure: 'another erasure of the profile is in progress; retry once it has finished (a retry erases again)',
};

/** An error as answered: status, headers (WWW-Authenticate, Retry-After) and body. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
}

const errorLog = new Logger('HttpErrors');

/**
 * The one place where errors become HTTP answers: the framework's routes (the filter below) and the routes served
 * before it (DirectRoute) answer alike. A 5xx other than 503 is logged, naming the request: an app without a request
 * context (the collector) has no other link to it.
 */
export function errorAnswer(exception: unknown, requestId: string | undefined): ErrorAnswer {
  const { status, body, retryAfterSeconds, wwwAuthenticate } = mapError(exception);
  if (status >= 500 && status !== HttpStatus.SERVICE_UNAVAILABLE) {
    errorLog.error({ requestId, msg: (exception as Error)?.stack ?? String(exception) });
  }
  const headers: Record<string, string> = {};
  if (wwwAuthenticate) headers['WWW-Authenticate'] = wwwAuthenticate;
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
  return { status, headers, body };
}

/** Maps whatever a route of the framework threw. */
@Catch()
export class ViewingHistoryErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, headers, body } = errorAnswer(exception, requestIdOf(host.switchToHttp().getRequest<Request>()));
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    if (!response.headersSent) response.status(status).json(body);
  }
}

function mapError(exception: unknown): {
  status: number;
  body: ErrorBody;
  retryAfterSeconds?: number;
  wwwAuthenticate?: string;
} {
  if (exception instanceof InvalidInputError) {
    return {
      status: 400,
      body: { error: exception.code, message: 'the request is invalid', issues: exception.issues },
    };
  }
  if (exception instanceof RedriveRefusedError) {
    return {
      status: 400,
      body: {
        error: exception.code,
        message: 'these dead letters cannot be re-driven; nothing was re-driven',
        issues: exception.refused.map((r) => ({ field: r.id, message: r.reason })),
      },
    };
  }
  if (exception instanceof ErasureInProgressError) {
    return {
      status: 409,
      body: {
        error: exception.code,
        message: ERASURE_IN_PROGRESS_MESSAGES[exception.during],
        issues: exception.refused.map((r) => ({ field: r.id, message: r.reason })),
      },
      retryAfterSeconds: exception.retryAfterSeconds,
    };
  }
  if (exception instanceof NotSupportedAcrossRegionsError) {
    return { status: 501, body: { error: exception.code, message: exception.message } };
  }
  if (exception instanceof DependencyUnavailableError) {
    return {
      status: 503,
      body: { error: exception.code, message: `${exception.dependency} is unavailable; retry later` },
      retryAfterSeconds: exception.retryAfterSeconds,
    };
  }
  if (exception instanceof UnauthenticatedError) {
    return {
      status: 401,
      body: { error: exception.code, message: exception.message },
      wwwAuthenticate: 'Bearer realm="viewing-history"',
    };
  }
  if (exception instanceof ForbiddenError) {
    return { status: 403, body: { error: exception.code, message: exception.message } };
  }
  if (exception instanceof NotFoundError) {
    return { status: 404, body: { error: exception.code, message: exception.message } };
  }
  if (exception instanceof CorruptHistoryError) {
    return {
      status: 500,
      body: {
        error: exception.code,
        message: exception.advice,
      },
    };
  }
  if (exception instanceof ViewingHistoryError) {
    return { status: 500, body: { error: exception.code, message: 'internal error' } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const payload = exception.getResponse();
    // Readiness (terminus) answers with which dependency is down: keep that body as it is.
    if (typeof payload === 'object' && payload !== null && 'details' in payload) {
      return { status, body: payload as unknown as ErrorBody, retryAfterSeconds: status === 503 ? 5 : undefined };
    }
    const message =
      typeof payload === 'string' ? payload : ((payload as { message?: unknown }).message ?? exception.message);
    return {
      status,
      body: { error: errorCode(status), message: Array.isArray(message) ? message.join('; ') : String(message) },
    };
  }
  const parser = BODY_PARSER_ERRORS[(exception as { type?: string } | null)?.type ?? ''];
  if (parser) return { status: parser.status, body: { error: parser.error, message: parser.message } };
  return { status: 500, body: { error: 'internal_error', message: 'internal error' } };
}

function errorCode(status: number): string {
  const name = HttpStatus[status];
  return typeof name === 'string' ? name.toLowerCase() : 'error';
}
