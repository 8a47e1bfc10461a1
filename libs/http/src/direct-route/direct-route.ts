import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import { AccessTokens } from '../auth/access-tokens';
import { AccessRule, assertAllowed } from '../auth/authorize';
import { Caller } from '../auth/caller';
import { errorAnswer } from '../error.filter';
import { LOGS_EACH_REQUEST, pinoHttpOptions } from '../observability/request-log.options';
import { timeRequest } from '../observability/request-metrics.middleware';
import { chooseRequestId, REQUEST_ID_HEADER } from '../request-id.middleware';
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
    if (request.method !== this.spec.method) return false;
    const url = request.url ?? '';
    const query = url.indexOf('?');
    if ((query < 0 ? url : url.slice(0, query)) !== this.spec.path) return false;
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
    return isUtf8Json(request.headers['content-type']);
  }

  serve(request: IncomingMessage, response: ServerResponse): void {
    const requestId = chooseRequestId(request);
    (request as IncomingMessage & { id?: string }).id = requestId;
    response.setHeader(REQUEST_ID_HEADER, requestId);
    this.line?.(request, response);
    timeRequest(request, response, () => this.spec.path);
    this.handle(request, response, requestId).catch(() => response.destroy());
  }

  private async handle(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    try {
      // In the framework's order: the body parsed, then the guard.
      const body = await readJsonBody(request, this.bodyLimitBytes);
      const caller = await this.tokens.verify(request.headers.authorization);
      assertAllowed(caller, this.spec.access);
      const { status, body: answer } = await this.answer(body, caller, requestId);
      sendJson(response, status, answer, {});
    } catch (error) {
      const { status, headers, body } = errorAnswer(error, requestId);
      // Answered before the whole body was read (413): the rest is not read, so the connection cannot be reused.
      if (!request.complete) headers.connection = 'close';
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
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
    })
    .end(json);
}

/** `application/json`, with no charset or UTF-8's: what Express's JSON parser reads as this route reads it. */
function isUtf8Json(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [media, ...parameters] = contentType.split(';');
  if (media.trim().toLowerCase() !== 'application/json') return false;
  return parameters.every((parameter) => {
    const [name, value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') return true;
    return (
      value
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase() === 'utf-8'
    );
  });
}
