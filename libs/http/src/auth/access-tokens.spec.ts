import { SignJWT } from 'jose';
import { loadConfig } from '@vh/config';
import { UnauthenticatedError } from '@vh/domain';
import { AccessTokens, mintAccessToken } from './access-tokens';

const config = loadConfig({});
const secret = new TextEncoder().encode(config.auth.secret);

function unsigned(claims: Record<string, unknown>) {
  return new SignJWT({ scope: 'history:read:all', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('someone')
    .setIssuer(config.auth.issuer)
    .setAudience(config.auth.audience)
    .setIssuedAt();
}

describe('AccessTokens', () => {
  const tokens = new AccessTokens(config);

  it('accepts a token that expires', async () => {
    const token = await unsigned({}).setExpirationTime('1h').sign(secret);
    const caller = await tokens.verify(`Bearer ${token}`);
    expect(caller.subject).toBe('someone');
  });

  it('refuses a correctly signed token without exp: a leaked one would never stop working', async () => {
    const token = await unsigned({}).sign(secret);
    await expect(tokens.verify(`Bearer ${token}`)).rejects.toThrow(UnauthenticatedError);
    await expect(tokens.verify(`Bearer ${token}`)).rejects.toThrow(/expir/);
  });

  describe('with verified tokens cached', () => {
    afterEach(() => jest.useRealTimers());

    it('refuses a cached token from its exp on, as an uncached one', async () => {
      jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
      const fresh = new AccessTokens(config);
      const token = await unsigned({}).setExpirationTime('2s').sign(secret);
      expect((await fresh.verify(`Bearer ${token}`)).subject).toBe('someone');
      expect((await fresh.verify(`Bearer ${token}`)).subject).toBe('someone');
      jest.setSystemTime(new Date('2026-01-01T00:00:02Z'));
      await expect(fresh.verify(`Bearer ${token}`)).rejects.toThrow('the token has expired');
    });

    it('never caches a token that failed: a forged signature fails every time', async () => {
      const fresh = new AccessTokens(config);
      const token = await unsigned({}).setExpirationTime('1h').sign(secret);
      const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
      expect((await fresh.verify(`Bearer ${token}`)).subject).toBe('someone');
      for (let i = 0; i < 2; i++) await expect(fresh.verify(`Bearer ${forged}`)).rejects.toThrow(UnauthenticatedError);
    });
  });

  it('mints only tokens that expire', async () => {
    const token = await mintAccessToken(config, { kind: 'operator' });
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(payload.exp).toBeGreaterThan(payload.iat);
    for (const ttlSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      await expect(mintAccessToken(config, { kind: 'operator', ttlSeconds })).rejects.toThrow(/ttl/);
  });
});
