import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, createCassandraClient } from './cassandra-client';
import { ChangedProfilesWalk } from './changed-profiles.walk';
import { StoredHistoryEraser } from './erasure/stored-history.eraser';
import { CompressedHistoryRepository } from './compressed/compressed-history.repository';
import { LiveHistoryRepository } from './live/live-history.repository';
import { ProfileActivityIndex } from './live/profile-activity.index';
import { ProfileActivityBuckets } from './ports/profile-activity.buckets';

/** One driver instance per process; it connects lazily, so an app starts (not ready) while Cassandra is down. */
@Global()
@Module({
  providers: [
    {
      provide: CASSANDRA_CLIENT,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => createCassandraClient(config.cassandra, config.kafka.clientId),
    },
    LiveHistoryRepository,
    ProfileActivityIndex,
    { provide: ProfileActivityBuckets, useExisting: ProfileActivityIndex },
    CompressedHistoryRepository,
    ChangedProfilesWalk,
    StoredHistoryEraser,
  ],
  exports: [
    StoredHistoryEraser,
    CASSANDRA_CLIENT,
    LiveHistoryRepository,
    ProfileActivityIndex,
    CompressedHistoryRepository,
    ChangedProfilesWalk,
  ],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(@Inject(CASSANDRA_CLIENT) private readonly client: Client) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.shutdown();
  }
}
