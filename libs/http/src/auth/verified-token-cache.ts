import { Caller } from './caller';

/** How long a verification is trusted at most, whatever the token's exp: a key dropped from the JWKS stops working within it. */
export const MAX_TRUST_MS = 60_000;
const MAX_ENTRIES = 1_000;

/**
 * Callers of tokens verified recently, by the exact token string (its signature included: a token that
 * differs in one byte is verified afresh). An entry is used only while the token has not expired (`exp`,
 * seconds, compared as jose compares it: expired from the second exp on) and for at most MAX_TRUST_MS;
 * only successful verifications are kept, so a bad token costs a full verification every time
 * (invariant 5). Verifying an HS256 token with jose took about 40-100 µs of CPU per request (issue 14).
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { caller: Caller; usableUntilMs: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  get(token: string): Caller | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.usableUntilMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.caller;
  }

  /** `expSeconds`: the verified token's exp claim. */
  set(token: string, caller: Caller, expSeconds: number): void {
    const now = this.now();
    const usableUntilMs = Math.min(expSeconds * 1000, now + MAX_TRUST_MS);
    if (!(usableUntilMs > now)) return;
    if (this.entries.size >= this.maxEntries) {
      // Oldest first (a Map keeps insertion order): a flood of distinct tokens only churns the cache.
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(token, { caller, usableUntilMs });
  }
}
