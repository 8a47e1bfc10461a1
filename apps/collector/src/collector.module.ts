import { Module } from '@nestjs/common';
import { ViewingHistoryConfigModule } from '@vh/config';
import { ErasureModule } from '@vh/erasure';
import { AuthModule, ObservabilityModule } from '@vh/http';
import { ViewingEventPublisher } from '@vh/messaging';
import { StorageModule } from '@vh/storage';
import { EventIntake } from './event-intake';
import { EventsController } from './events.controller';
import { EventsDirectRoute } from './events.direct-route';

@Module({
  // Storage only for the profile keys: playback events are sealed before they reach the log (docs/adr/0009).
  imports: [
    ViewingHistoryConfigModule,
    ObservabilityModule.forRequestLines(),
    AuthModule,
    StorageModule,
    ErasureModule,
  ],
  controllers: [EventsController],
  providers: [EventIntake, EventsDirectRoute, ViewingEventPublisher],
})
export class CollectorModule {}
