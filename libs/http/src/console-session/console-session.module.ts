import { Global, Module } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { ConsoleSessionController } from './console-session.controller';
import { ConsoleSessions, ConsoleSessionStore } from './console-sessions';
import { RedisConsoleSessionStore } from './redis-session.store';

/**
 * Console sign-in for the app that serves the console (the API). Global, so that the authorization guard
 * and Bull Board's operator check accept a session cookie wherever they run.
 */
@Global()
@Module({
  controllers: [ConsoleSessionController],
  providers: [
    { provide: ConsoleSessionStore, useClass: RedisConsoleSessionStore },
    {
      provide: ConsoleSessions,
      inject: [ConsoleSessionStore, AppConfig],
      useFactory: (store: ConsoleSessionStore, config: AppConfig) =>
        new ConsoleSessions(store, config.http.consoleSessionTtlSeconds * 1000),
    },
  ],
  exports: [ConsoleSessions],
})
export class ConsoleSessionModule {}
