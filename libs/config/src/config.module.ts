import { Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, loadConfig } from './app-config';

const APP_CONFIG_KEY = 'app';

/**
 * Validates the environment once at start-up (a bad value stops the app with every problem listed)
 * and provides the typed AppConfig everywhere.
 */
@Global()
@Module({
  imports: [
    ConfigModule.forRoot({ ignoreEnvFile: true, cache: true, load: [() => ({ [APP_CONFIG_KEY]: loadConfig() })] }),
  ],
  providers: [
    {
      provide: AppConfig,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => config.getOrThrow<AppConfig>(APP_CONFIG_KEY),
    },
  ],
  exports: [AppConfig],
})
export class ViewingHistoryConfigModule {}
