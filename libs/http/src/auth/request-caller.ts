import type { Request } from 'express';
import { CSRF_HEADER, ConsoleSessions, readCookie, SESSION_COOKIE } from '../console-session/console-sessions';
import { AccessTokens } from './access-tokens';
import { Caller } from './caller';

/**
 * Who is calling: a bearer token if the request has one; else, in an app with console sessions, the
 * session cookie (operators only, CSRF-checked); else 401. `originOnly`: routers that cannot send the CSRF
 * header (Bull Board's own UI) are held to the same-origin check alone.
 */
export function identifyCaller(
  request: Request,
  tokens: AccessTokens,
  sessions: ConsoleSessions | undefined,
  options: { originOnly?: boolean } = {},
): Promise<Caller> {
  const authorization = request.header('authorization');
  const cookie = readCookie(request.header('cookie'), SESSION_COOKIE);
  if (authorization !== undefined || !sessions || cookie === undefined) return tokens.verify(authorization);
  return sessions.authenticate(
    {
      method: request.method,
      cookie,
      csrfToken: request.header(CSRF_HEADER),
      origin: request.header('origin'),
      host: request.header('host'),
    },
    options,
  );
}
