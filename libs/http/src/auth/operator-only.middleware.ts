import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ForbiddenError } from '@vh/domain';
import { AccessTokens } from './access-tokens';
import { SCOPES } from './caller';

/** For Express routers that Nest's guards do not reach (Bull Board): operators only. */
@Injectable()
export class OperatorOnlyMiddleware implements NestMiddleware {
  constructor(private readonly tokens: AccessTokens) {}

  use(request: Request, _response: Response, next: NextFunction): void {
    this.tokens
      .verify(request.header('authorization'))
      .then((caller) => {
        if (!caller.scopes.has(SCOPES.compactionAdmin))
          throw new ForbiddenError(`the token lacks the scope ${SCOPES.compactionAdmin}`);
        next();
      })
      .catch(next);
  }
}
