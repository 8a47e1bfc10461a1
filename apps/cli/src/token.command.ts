import { AppConfig } from '@vh/config';
import { mintAccessToken, TOKEN_KINDS, TokenKind } from '@vh/http';

/** `token --kind device --profiles A,B | --kind recommender | --kind operator [--ttl SECONDS]` */
export async function token(config: AppConfig, args: string[]): Promise<unknown> {
  const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const kind = value('--kind');
  if (!kind || !(kind in TOKEN_KINDS)) throw new Error(`--kind must be one of ${Object.keys(TOKEN_KINDS).join(', ')}`);
  const profiles = value('--profiles')?.split(',').filter(Boolean);
  const ttlSeconds = Number(value('--ttl') ?? 3600);
  const accessToken = await mintAccessToken(config, {
    kind: kind as TokenKind,
    profiles,
    ttlSeconds,
    subject: value('--subject'),
  });
  return {
    accessToken,
    kind,
    scopes: TOKEN_KINDS[kind as TokenKind],
    profiles: profiles ?? [],
    expiresInSeconds: ttlSeconds,
  };
}
