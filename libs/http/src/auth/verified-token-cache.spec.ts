import fc from 'fast-check';
import { Caller } from './caller';
import { MAX_TRUST_MS, VerifiedTokenCache } from './verified-token-cache';

const caller: Caller = { subject: 's', scopes: new Set(['history:read']), profiles: new Set(['p']) };

describe('VerifiedTokenCache', () => {
  it('answers a token only before its exp and within MAX_TRUST_MS of its verification', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000_000, max: 2_000_000_000 }),
        fc.integer({ min: -120, max: 120 }),
        fc.integer({ min: 0, max: 200_000 }),
        (verifiedAtSeconds, expInSeconds, laterMs) => {
          let now = verifiedAtSeconds * 1000 + 123;
          const cache = new VerifiedTokenCache(() => now);
          const exp = verifiedAtSeconds + expInSeconds;
          cache.set('t', caller, exp);
          now += laterMs;
          const usable = now < exp * 1000 && laterMs < MAX_TRUST_MS;
          expect(cache.get('t')).toBe(usable ? caller : undefined);
          expect(cache.get('t2')).toBeUndefined();
        },
      ),
    );
  });

  it('keeps at most its bound of entries, dropping the oldest', () => {
    const now = 1_000_000_000;
    const cache = new VerifiedTokenCache(() => now, 2);
    const exp = now / 1000 + 3600;
    cache.set('a', caller, exp);
    cache.set('b', caller, exp);
    cache.set('c', caller, exp);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe(caller);
    expect(cache.get('c')).toBe(caller);
  });
});
