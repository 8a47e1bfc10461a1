import { Module } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { EventLogOpener, EventPayloadSealer } from '@vh/messaging';
import { ErasureLedger } from './erasure-ledger';
import { CassandraErasuresInProgress, ErasuresInProgress } from './erasures-in-progress';
import { ProfileKeyOpener } from './profile-key.opener';
import { ProfileKeySealer } from './profile-key.sealer';
import { CassandraProfileKeyStore, ProfileKeys, ProfileKeyStore } from './profile-keys';

/** Profile keys, and the sealer and opener of the event log that use them (docs/adr/0009). Needs StorageModule. */
@Module({
  providers: [
    { provide: ProfileKeyStore, useClass: CassandraProfileKeyStore },
    {
      provide: ProfileKeys,
      inject: [ProfileKeyStore, AppConfig],
      useFactory: (store: ProfileKeyStore, config: AppConfig) => new ProfileKeys(store, config),
    },
    { provide: EventPayloadSealer, useClass: ProfileKeySealer },
    { provide: EventLogOpener, useClass: ProfileKeyOpener },
    ErasureLedger,
    { provide: ErasuresInProgress, useClass: CassandraErasuresInProgress },
  ],
  exports: [ProfileKeys, ProfileKeyStore, EventPayloadSealer, EventLogOpener, ErasureLedger, ErasuresInProgress],
})
export class ErasureModule {}
