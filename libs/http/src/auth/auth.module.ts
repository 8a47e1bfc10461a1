import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessTokens } from './access-tokens';
import { AuthorizationGuard } from './authorize';

/** Every route of an app that imports this is closed unless marked @Public() or @Authorize(...). */
@Global()
@Module({
  providers: [AccessTokens, { provide: APP_GUARD, useClass: AuthorizationGuard }],
  exports: [AccessTokens],
})
export class AuthModule {}
