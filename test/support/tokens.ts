import { loadConfig } from '@vh/config';
import { mintAccessToken, TokenKind } from '@vh/http';

type Headers = Record<string, string>;

/** Bearer headers for each kind of caller, signed with the environment's secret. */
export interface TestTokens {
  recommender: Headers;
  operator: Headers;
  device(...profiles: string[]): Promise<Headers>;
}

export async function bearer(kind: TokenKind, profiles?: string[], env: Record<string, string> = {}): Promise<Headers> {
  const token = await mintAccessToken(loadConfig({ ...process.env, ...env }), { kind, profiles, ttlSeconds: 3600 });
  return { authorization: `Bearer ${token}` };
}

export async function testTokens(env: Record<string, string> = {}): Promise<TestTokens> {
  return {
    recommender: await bearer('recommender', undefined, env),
    operator: await bearer('operator', undefined, env),
    device: (...profiles) => bearer('device', profiles, env),
  };
}
