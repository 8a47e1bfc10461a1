import { CanActivate, ExecutionContext, Injectable, Optional, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ForbiddenError } from '@vh/domain';
import { AccessTokens } from './access-tokens';
import { ConsoleSessions } from '../console-session/console-sessions';
import { Caller, mayActOnProfile, Scope } from './caller';
import { identifyCaller } from './request-caller';

export interface AccessRule {
  /** The scope the route needs. */
  scope: Scope;
  /** The route acts on the profile in this path parameter: the token must name it... */
  profileParam?: string;
  /** ...unless it carries this scope, which covers every profile. */
  anyProfileScope?: Scope;
}

const ACCESS_RULE = 'viewing-history:access-rule';
const PUBLIC = 'viewing-history:public';

/** Who may call a route. Every route needs either this or @Public(). */
export const Authorize = (rule: AccessRule) => SetMetadata(ACCESS_RULE, rule);
/** Health, metrics and docs: no token needed. */
export const Public = () => SetMetadata(PUBLIC, true);

export function callerOf(request: Request): Caller {
  const caller = (request as Request & { caller?: Caller }).caller;
  if (!caller) throw new Error('no caller on an authorised request');
  return caller;
}

/** Global guard: 401 without a valid token (or console session), 403 without the scope or the profile. Deny by default. */
@Injectable()
export class AuthorizationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: AccessTokens,
    /** Present in the API only (the console): a session cookie then stands for an operator token. */
    @Optional() private readonly sessions?: ConsoleSessions,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const caller = await identifyCaller(request, this.tokens, this.sessions);
    (request as Request & { caller?: Caller }).caller = caller;
    const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, targets);
    if (!rule) throw new ForbiddenError('this route is not open to any token');
    assertAllowed(caller, rule, request.params);
    return true;
  }
}

/** 403 unless the caller holds the rule's scope (and, for a route on a profile, that profile). */
export function assertAllowed(caller: Caller, rule: AccessRule, params: Record<string, unknown> = {}): void {
  if (rule.profileParam) {
    const profileId = String(params[rule.profileParam] ?? '');
    if (!mayActOnProfile(caller, rule.scope, profileId, rule.anyProfileScope)) {
      throw new ForbiddenError(`the token does not allow ${rule.scope} on this profile`);
    }
  } else if (!caller.scopes.has(rule.scope) && !(rule.anyProfileScope && caller.scopes.has(rule.anyProfileScope))) {
    throw new ForbiddenError(`the token lacks the scope ${rule.scope}`);
  }
}
