import { Injectable } from '@nestjs/common';
import { createPublicKey, KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, JWTPayload, jwtVerify, SignJWT } from 'jose';
import { AppConfig } from '@vh/config';
import { UnauthenticatedError } from '@vh/domain';
import { Caller, TOKEN_KINDS, TokenKind } from './caller';
import { VerifiedTokenCache } from './verified-token-cache';

type KeyInput = Uint8Array | KeyObject | ReturnType<typeof createRemoteJWKSet>;

/** Verifies bearer tokens: a configured JWKS, else a public key, else the shared HS256 secret. */
@Injectable()
export class AccessTokens {
  private readonly key: KeyInput;
  private readonly algorithms: string[] | undefined;
  private readonly verified = new VerifiedTokenCache();

  constructor(private readonly config: AppConfig) {
    const { auth } = config;
    if (auth.jwksUrl) {
      this.key = createRemoteJWKSet(new URL(auth.jwksUrl));
      this.algorithms = undefined;
    } else if (auth.publicKey) {
      this.key = createPublicKey(auth.publicKey);
      this.algorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'];
    } else {
      this.key = new TextEncoder().encode(auth.secret);
      this.algorithms = ['HS256'];
    }
  }

  async verify(authorization: string | undefined): Promise<Caller> {
    const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization ?? '');
    if (!match) throw new UnauthenticatedError('a bearer token is required');
    const cached = this.verified.get(match[1]);
    if (cached) return cached;
    let payload: JWTPayload;
    try {
      const options = {
        issuer: this.config.auth.issuer,
        audience: this.config.auth.audience,
        algorithms: this.algorithms,
        // A token without exp would never stop working once leaked: refused (issue 11 §7).
        requiredClaims: ['exp'],
      };
      ({ payload } = await jwtVerify(match[1], this.key as Parameters<typeof jwtVerify>[1], options));
    } catch (error) {
      const reason =
        error instanceof errors.JWTExpired
          ? 'the token has expired'
          : error instanceof errors.JWTClaimValidationFailed && error.claim === 'exp'
            ? 'the token has no expiry (exp)'
            : 'the token is not valid';
      throw new UnauthenticatedError(reason);
    }
    const profiles = Array.isArray(payload.profiles)
      ? payload.profiles.filter((p): p is string => typeof p === 'string')
      : [];
    const caller: Caller = {
      subject: payload.sub ?? 'unknown',
      scopes: new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []),
      profiles: new Set(profiles),
    };
    // exp is required above, so it is a number here.
    this.verified.set(match[1], caller, payload.exp!);
    return caller;
  }
}

/** Mints an HS256 token with the configured secret: for local use and tests (`cli token`). */
export async function mintAccessToken(
  config: AppConfig,
  request: { kind: TokenKind; subject?: string; profiles?: string[]; ttlSeconds?: number },
): Promise<string> {
  if (request.kind === 'device' && !request.profiles?.length)
    throw new Error('a device token names at least one profile');
  const ttlSeconds = request.ttlSeconds ?? 3600;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new Error(`the ttl must be a positive whole number of seconds, not ${ttlSeconds}`);
  return new SignJWT({
    scope: TOKEN_KINDS[request.kind].join(' '),
    ...(request.profiles?.length ? { profiles: request.profiles } : {}),
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(request.subject ?? `${request.kind}-local`)
    .setIssuer(config.auth.issuer)
    .setAudience(config.auth.audience)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(new TextEncoder().encode(config.auth.secret));
}
