import { Injectable, NestMiddleware, Optional } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ForbiddenError } from '@vh/domain';
import { ConsoleSessions } from '../console-session/console-sessions';
import { AccessTokens } from './access-tokens';
import { SCOPES } from './caller';
import { identifyCaller } from './request-caller';

/**
 * For Express routers that Nest's guards do not reach (Bull Board): operators only, by bearer token or by
 * console session. Bull Board's own UI cannot send the CSRF header, so its state-changing requests on a
 * session are held to the same-origin check (Origin must name this host; the cookie is SameSite=Strict).
 */
@Injectable()
export class OperatorOnlyMiddleware implements NestMiddleware {
  constructor(
    private readonly tokens: AccessTokens,
    @Optional() private readonly sessions?: ConsoleSessions,
  ) {}

  use(request: Request, _response: Response, next: NextFunction): void {
    identifyCaller(request, this.tokens, this.sessions, { originOnly: true })
      .then((caller) => {
        if (!caller.scopes.has(SCOPES.compactionAdmin))
          throw new ForbiddenError(`the token lacks the scope ${SCOPES.compactionAdmin}`);
        next();
      })
      .catch(next);
  }
}
