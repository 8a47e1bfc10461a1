import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import IORedis, { Redis } from 'ioredis';
import { AppConfig } from '@vh/config';
import { DependencyUnavailableError } from '@vh/domain';
import { ConsoleSession, ConsoleSessionStore } from './console-sessions';

const PREFIX = 'viewing-history:console-session:';

/** Sessions in Redis with their own expiry, so every API process knows every session and sign-out. */
@Injectable()
export class RedisConsoleSessionStore extends ConsoleSessionStore implements OnApplicationShutdown {
  private redis: Redis | null = null;

  constructor(private readonly config: AppConfig) {
    super();
  }

  async put(key: string, session: ConsoleSession, ttlMs: number): Promise<void> {
    await this.call((redis) => redis.set(PREFIX + key, JSON.stringify(session), 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async get(key: string): Promise<ConsoleSession | null> {
    const text = await this.call((redis) => redis.get(PREFIX + key));
    return text ? (JSON.parse(text) as ConsoleSession) : null;
  }

  async delete(key: string): Promise<void> {
    await this.call((redis) => redis.del(PREFIX + key));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => undefined);
  }

  private async call<T>(operation: (redis: Redis) => Promise<T>): Promise<T> {
    this.redis ??= new IORedis(this.config.redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
    try {
      return await operation(this.redis);
    } catch (error) {
      throw new DependencyUnavailableError('redis', (error as Error).message, 5, { cause: error });
    }
  }
}
