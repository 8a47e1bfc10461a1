import { mintAccessToken, TokenKind } from '@vh/http';
import { loadConfig } from '@vh/config';

/** A signed-in console session as a browser holds it: the cookie, the CSRF token, the origin it sends. */
export interface ConsoleSignIn {
  status: number;
  body: any;
  setCookie: string | null;
  cookie: string;
  csrfToken: string;
}

export function tokenOf(kind: TokenKind, env: Record<string, string>, ttlSeconds = 3600, profiles?: string[]) {
  return mintAccessToken(loadConfig({ ...process.env, ...env }), { kind, profiles, ttlSeconds });
}

export async function signIn(
  apiUrl: string,
  token: unknown,
  headers: Record<string, string> = {},
): Promise<ConsoleSignIn> {
  const response = await fetch(`${apiUrl}/console/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: apiUrl, ...headers },
    body: JSON.stringify({ token }),
  });
  const body = (await response.json().catch(() => null)) as any;
  const setCookie = response.headers.get('set-cookie');
  return {
    status: response.status,
    body,
    setCookie,
    cookie: setCookie?.split(';')[0] ?? '',
    csrfToken: body?.csrfToken ?? '',
  };
}

/** A request as the console page makes it: cookie, same origin, and the CSRF header unless left out. */
export async function withSession(
  apiUrl: string,
  session: Pick<ConsoleSignIn, 'cookie' | 'csrfToken'>,
  method: string,
  path: string,
  options: { body?: unknown; csrf?: boolean; origin?: string | null } = {},
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { cookie: session.cookie };
  if (options.origin !== null) headers.origin = options.origin ?? apiUrl;
  if (options.csrf !== false && method !== 'GET') headers['x-csrf-token'] = session.csrfToken;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    redirect: 'manual',
  });
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a page)
  }
  return { status: response.status, body, text };
}
