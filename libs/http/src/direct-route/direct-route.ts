import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import { AccessTokens } from '../auth/access-tokens';
import { AccessRule, assertAllowed } from '../auth/authorize';
import { Caller } from '../auth/caller';
import { errorAnswer } from '../error.filter';
import { LOGS_EACH_REQUEST, pinoHttpOptions } from '../observability/request-log.options';
import { timeRequest } from '../observability/request-metrics.middleware';
import { assignRequestId } from '../request-id';
import { pathOf } from '../request-path';
import { readJsonBody } from './read-json-body';

/** What a direct route answers: a status and a JSON body. */
export interface DirectAnswer {
  status: number;
  body: unknown;
}

/** Which requests a direct route takes, and who may call it. */
export interface DirectRouteSpec {
  method: string;
  path: string;
  access: AccessRule;
}

/**
 * A JSON route served on the HTTP server's request event, after load shedding and before Nest and Express
 * (LoadSheddingGate.serveDirectly): for a hot path whose framework costs more than its work. It keeps the framework's
 * contract: the body read as Express's JSON parser reads it, the bearer token checked against the route's rule as
 * the guard checks it, errors answered by the one mapping (errorAnswer), x-request-id, the request line and the
 * request histogram. It takes only the plain case, a UTF-8 JSON body on the exact path; anything else (another
 * content type, charset or encoding, a trailing slash) is left to the framework, whose controller answers alike.
 * For a device's kind of route: a bearer token only (no console session), and a request line at info whatever the
 * app's request logging (ObservabilityModule), as the collector's.
 */
export abstract class DirectRoute {
  private readonly line = LOGS_EACH_REQUEST ? pinoHttp(pinoHttpOptions()) : undefined;

  protected constructor(
    private readonly spec: DirectRouteSpec,
    private readonly tokens: AccessTokens,
    private readonly bodyLimitBytes: number,
  ) {}

  /** The route's own work, once the body is read and the caller allowed. */
  protected abstract answer(body: unknown, caller: Caller, requestId: string): Promise<DirectAnswer>;

  /** Whether this route serves the request (else the framework does). */
  takes(request: IncomingMessage): boolean {
    if (request.method !== this.spec.method || pathOf(request.url) !== this.spec.path) return false;
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
    return UTF8_JSON.test(request.headers['content-type'] ?? '');
  }

  serve(request: IncomingMessage, response: ServerResponse): void {
    // The request id first (bootstrap sets it before Express's parser too): a refused body is named by it.
    const requestId = assignRequestId(request, response);
    this.handle(request, response, requestId).catch(() => response.destroy());
  }

  private async handle(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    try {
      // In the framework's order: the body parsed, then the guard.
      const body = await readJsonBody(request, this.bodyLimitBytes);
      // Where the framework starts them, after its parser: a body refused (or cut short) is neither timed nor lined.
      this.line?.(request, response);
      timeRequest(request, response, () => this.spec.path);
      const caller = await this.tokens.verify(request.headers.authorization);
      assertAllowed(caller, this.spec.access);
      const { status, body: answer } = await this.answer(body, caller, requestId);
      sendJson(response, status, answer, {});
    } catch (error) {
      const { status, headers, body } = errorAnswer(error, requestId);
      if (!response.headersSent) sendJson(response, status, body, headers);
    }
  }
}

/** As Express's `res.json` sends it. */
function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const json = JSON.stringify(body);
  response
    .writeHead(status, {
      ...headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(json),
    })
    .end(json);
}

/**
 * `application/json`, alone or with `charset=utf-8` only: what Express's JSON parser reads as this route reads it.
 * Any other parameter, charset or spelling is left to the framework (whose parser may refuse it, 415). Spaces and
 * tabs only: `\s` would take U+00A0, which the parser does not trim (it would not read the body).
 */
const UTF8_JSON = /^application\/json[ \t]*(;[ \t]*charset[ \t]*=[ \t]*("utf-8"|utf-8)[ \t]*)?$/i;
