import { Body, Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '@vh/config';
import { ForbiddenError, InvalidInputError, UnauthenticatedError } from '@vh/domain';
import { AccessTokens } from '../auth/access-tokens';
import { Public } from '../auth/authorize';
import {
  CSRF_HEADER,
  ConsoleSession,
  ConsoleSessions,
  readCookie,
  sameOrigin,
  SESSION_COOKIE,
  sessionCookie,
} from './console-sessions';

/** Sign-in (an operator token for a session cookie), the session's CSRF token, sign-out. */
@ApiExcludeController()
@Public()
@Controller('console/session')
export class ConsoleSessionController {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly sessions: ConsoleSessions,
    private readonly config: AppConfig,
  ) {}

  /** `{"token": "<operator JWT>"}` in the body (never the URL). 401 for a bad token, 403 for any but an operator's. */
  @Post()
  @HttpCode(200)
  async signIn(@Body() body: unknown, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const origin = request.header('origin');
    if (origin !== undefined && !sameOrigin(origin, request.header('host'))) {
      throw new ForbiddenError('sign in from the console itself');
    }
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 8_192) {
      throw new InvalidInputError([{ field: 'token', message: 'an operator access token is required' }]);
    }
    const caller = await this.tokens.verify(`Bearer ${token.trim()}`);
    const { id, session } = await this.sessions.signIn(caller);
    response.setHeader('set-cookie', sessionCookie(id, session.expiresAt - Date.now(), this.secure(request)));
    response.setHeader('cache-control', 'no-store');
    return sessionView(session);
  }

  /** Who is signed in, and the CSRF token the page sends back in `x-csrf-token` (kept in memory only). */
  @Get()
  async current(@Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const session = await this.sessions.find(readCookie(request.header('cookie'), SESSION_COOKIE));
    if (!session) throw new UnauthenticatedError('no console session (signed out or expired): sign in again');
    response.setHeader('cache-control', 'no-store');
    return sessionView(session);
  }

  /** Ends the session server-side (the cookie stops working in every API process) and clears the cookie. */
  @Delete()
  @HttpCode(204)
  async signOut(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    const cookie = readCookie(request.header('cookie'), SESSION_COOKIE);
    await this.sessions.authenticate({
      method: 'DELETE',
      cookie,
      csrfToken: request.header(CSRF_HEADER),
      origin: request.header('origin'),
      host: request.header('host'),
    });
    await this.sessions.signOut(cookie);
    response.setHeader('set-cookie', sessionCookie('', 0, this.secure(request)));
  }

  private secure(request: Request): boolean {
    return (
      this.config.http.consoleCookieSecure === 'always' ||
      request.secure ||
      request.header('x-forwarded-proto')?.split(',')[0].trim() === 'https'
    );
  }
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** What the page learns of its session: never the cookie's value. */
function sessionView(session: ConsoleSession) {
  return {
    subject: session.subject,
    scopes: session.scopes,
    csrfToken: session.csrfToken,
    expiresAt: iso(session.expiresAt),
  };
}
