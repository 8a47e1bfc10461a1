import { ForbiddenError, UnauthenticatedError } from '@vh/domain';
import { Caller, SCOPES, TOKEN_KINDS } from '../auth/caller';
import {
  ConsoleSession,
  ConsoleSessions,
  ConsoleSessionStore,
  readCookie,
  SessionRequest,
  sessionCookie,
} from './console-sessions';

class MemoryStore extends ConsoleSessionStore {
  readonly entries = new Map<string, ConsoleSession>();
  async put(key: string, session: ConsoleSession): Promise<void> {
    this.entries.set(key, session);
  }
  async get(key: string): Promise<ConsoleSession | null> {
    return this.entries.get(key) ?? null;
  }
  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }
}

const T0 = Date.parse('2026-11-26T12:00:00Z');
const MINUTE = 60_000;

function caller(kind: keyof typeof TOKEN_KINDS, expiresAt = T0 + 60 * MINUTE, extra: string[] = []): Caller {
  return {
    subject: `${kind}-1`,
    scopes: new Set([...TOKEN_KINDS[kind], ...extra]),
    profiles: new Set(kind === 'device' ? ['p1'] : []),
    expiresAt,
  };
}

describe('ConsoleSessions', () => {
  let now: number;
  let store: MemoryStore;
  let sessions: ConsoleSessions;
  const request = (id: string, overrides: Partial<SessionRequest> = {}): SessionRequest => ({
    method: 'GET',
    cookie: id,
    csrfToken: undefined,
    origin: undefined,
    host: 'console.example:3002',
    ...overrides,
  });

  beforeEach(() => {
    now = T0;
    store = new MemoryStore();
    sessions = new ConsoleSessions(store, 30 * MINUTE, () => now);
  });

  it('opens a session for an operator token only: devices and recommendation jobs get 403', async () => {
    await expect(sessions.signIn(caller('device'))).rejects.toThrow(ForbiddenError);
    await expect(sessions.signIn(caller('recommender'))).rejects.toThrow(ForbiddenError);
    expect(store.entries.size).toBe(0);
    const { id, session } = await sessions.signIn(caller('operator'));
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.scopes.sort()).toEqual([...TOKEN_KINDS.operator].sort());
  });

  it('carries operator scopes only, even from a token that has more', async () => {
    const { id } = await sessions.signIn(caller('operator', undefined, [SCOPES.historyReadAll, SCOPES.eventsWrite]));
    const who = await sessions.authenticate(request(id));
    expect([...who.scopes].sort()).toEqual([...TOKEN_KINDS.operator].sort());
    expect(who.profiles.size).toBe(0);
    expect(who.via).toBe('session');
  });

  it('stores the hash of the id, never the id itself', async () => {
    const { id } = await sessions.signIn(caller('operator'));
    expect([...store.entries.keys()]).not.toContain(id);
  });

  it('lives the configured time, never past the token it came from', async () => {
    const long = await sessions.signIn(caller('operator', T0 + 600 * MINUTE));
    expect(long.session.expiresAt).toBe(T0 + 30 * MINUTE);
    const short = await sessions.signIn(caller('operator', T0 + 5 * MINUTE));
    expect(short.session.expiresAt).toBe(T0 + 5 * MINUTE);
    await expect(sessions.signIn(caller('operator', T0))).rejects.toThrow(UnauthenticatedError);
  });

  it('401 without a cookie, for an unknown or malformed one, and once expired', async () => {
    const { id } = await sessions.signIn(caller('operator'));
    await expect(sessions.authenticate(request(undefined as unknown as string))).rejects.toThrow(UnauthenticatedError);
    await expect(sessions.authenticate(request('x'.repeat(43)))).rejects.toThrow(UnauthenticatedError);
    await expect(sessions.authenticate(request('not a session'))).rejects.toThrow(UnauthenticatedError);
    await expect(sessions.authenticate(request(id))).resolves.toMatchObject({ subject: 'operator-1' });
    now = T0 + 30 * MINUTE;
    await expect(sessions.authenticate(request(id))).rejects.toThrow(UnauthenticatedError);
  });

  it('a state-changing request needs the CSRF token and our own origin; a read needs neither', async () => {
    const { id, session } = await sessions.signIn(caller('operator'));
    const origin = 'http://console.example:3002';
    const post = (overrides: Partial<SessionRequest>) =>
      sessions.authenticate(request(id, { method: 'POST', ...overrides }));
    await expect(post({ origin })).rejects.toThrow(/x-csrf-token/);
    await expect(post({ origin, csrfToken: 'wrong' })).rejects.toThrow(ForbiddenError);
    await expect(post({ origin, csrfToken: session.csrfToken.slice(1) + 'A' })).rejects.toThrow(ForbiddenError);
    await expect(post({ csrfToken: session.csrfToken })).rejects.toThrow(/origin|console/);
    await expect(post({ origin: 'https://evil.example', csrfToken: session.csrfToken })).rejects.toThrow(
      ForbiddenError,
    );
    await expect(post({ origin: 'null', csrfToken: session.csrfToken })).rejects.toThrow(ForbiddenError);
    await expect(post({ origin, csrfToken: session.csrfToken })).resolves.toMatchObject({ subject: 'operator-1' });
    await expect(
      sessions.authenticate(request(id, { method: 'DELETE', origin }), { originOnly: true }),
    ).resolves.toBeDefined();
    await expect(sessions.authenticate(request(id, { method: 'HEAD' }))).resolves.toBeDefined();
  });

  it('sign-out ends the session', async () => {
    const { id } = await sessions.signIn(caller('operator'));
    await sessions.signOut(id);
    await expect(sessions.authenticate(request(id))).rejects.toThrow(UnauthenticatedError);
  });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Strict, for the whole site, Secure only behind TLS', () => {
    expect(sessionCookie('abc', 90_500, false)).toBe('vh_console=abc; Path=/; Max-Age=90; HttpOnly; SameSite=Strict');
    expect(sessionCookie('abc', 1_000, true)).toMatch(/; Secure$/);
    expect(sessionCookie('', 0, false)).toMatch(/Max-Age=0/);
  });

  it('is read from a Cookie header among others', () => {
    expect(readCookie('a=1; vh_console=xyz; b=2', 'vh_console')).toBe('xyz');
    expect(readCookie('vh_consolex=1', 'vh_console')).toBeUndefined();
    expect(readCookie(undefined, 'vh_console')).toBeUndefined();
  });
});
