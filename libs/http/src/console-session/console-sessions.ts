import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthenticatedError } from '@vh/domain';
import { Caller, SCOPES, TOKEN_KINDS } from '../auth/caller';

/** A signed-in operator, as stored server-side under the hash of the cookie's value. */
export interface ConsoleSession {
  subject: string;
  scopes: string[];
  csrfToken: string;
  expiresAt: number;
}

/** Where sessions live: Redis in the apps (every API process sees every session), memory in unit tests. */
export abstract class ConsoleSessionStore {
  abstract put(key: string, session: ConsoleSession, ttlMs: number): Promise<void>;
  abstract get(key: string): Promise<ConsoleSession | null>;
  abstract delete(key: string): Promise<void>;
}

export const SESSION_COOKIE = 'vh_console';
export const CSRF_HEADER = 'x-csrf-token';
/** Only what an operator token carries: a session can never do more (invariant 5). */
const OPERATOR_SCOPES: readonly string[] = TOKEN_KINDS.operator;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionRequest {
  method: string;
  cookie: string | undefined;
  csrfToken: string | undefined;
  origin: string | undefined;
  host: string | undefined;
}

/**
 * The console's sessions: an operator token is exchanged once for a random session id in an HttpOnly,
 * SameSite=Strict cookie; the token itself is never stored, nor put in a URL or in the page. A state-changing
 * request on a session must come from our own origin and, on the JSON API, carry the session's CSRF token
 * (synchronizer token) in a header, which a cross-site form or fetch cannot read nor set.
 */
export class ConsoleSessions {
  constructor(
    private readonly store: ConsoleSessionStore,
    private readonly maxTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Only operators get a session; its life is the configured TTL, cut to the token's own expiry. */
  async signIn(caller: Caller): Promise<{ id: string; session: ConsoleSession }> {
    if (!caller.scopes.has(SCOPES.compactionAdmin)) {
      throw new ForbiddenError('only an operator token opens a console session');
    }
    const now = this.now();
    const expiresAt = Math.min(now + this.maxTtlMs, caller.expiresAt ?? Number.POSITIVE_INFINITY);
    if (expiresAt <= now) throw new UnauthenticatedError('the token has expired');
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      subject: caller.subject,
      scopes: OPERATOR_SCOPES.filter((s) => caller.scopes.has(s)),
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt,
    };
    await this.store.put(storeKey(id), session, expiresAt - now);
    return { id, session };
  }

  /** The session of a cookie value, or null (none, unknown, signed out or expired). */
  async find(id: string | undefined): Promise<ConsoleSession | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const session = await this.store.get(storeKey(id));
    return session && session.expiresAt > this.now() ? session : null;
  }

  /**
   * The caller of a request made with the session cookie: 401 without a live session; 403 for a
   * state-changing request from another origin or, unless `originOnly`, without the session's CSRF token.
   */
  async authenticate(request: SessionRequest, options: { originOnly?: boolean } = {}): Promise<Caller> {
    const session = await this.find(request.cookie);
    if (!session) throw new UnauthenticatedError('no console session (signed out or expired): sign in again');
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      if (!sameOrigin(request.origin, request.host)) {
        throw new ForbiddenError('a state-changing request on a console session must come from the console');
      }
      if (!options.originOnly && !tokensMatch(request.csrfToken, session.csrfToken)) {
        throw new ForbiddenError(`the ${CSRF_HEADER} header is missing or does not match the session`);
      }
    }
    return {
      subject: session.subject,
      scopes: new Set(session.scopes),
      profiles: new Set(),
      expiresAt: session.expiresAt,
      via: 'session',
    };
  }

  async signOut(id: string | undefined): Promise<void> {
    if (id && /^[A-Za-z0-9_-]{43}$/.test(id)) await this.store.delete(storeKey(id));
  }
}

/** The store holds the hash of the id: a read of Redis does not hand out live sessions. */
function storeKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

function tokensMatch(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Browsers send Origin on every cross-origin and every non-GET request; it must name this host. */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host || origin === 'null') return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The value of one cookie of a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure behind TLS; Max-Age 0 clears it. */
export function sessionCookie(value: string, maxAgeMs: number, secure: boolean): string {
  const parts = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}
