import { Module } from '@nestjs/common';
import { ViewingHistoryConfigModule } from '@vh/config';
import { AuthModule, ObservabilityModule } from '@vh/http';
import { ViewingEventPublisher } from '@vh/messaging';
import { EventIntake } from './event-intake';
import { EventsController } from './events.controller';

@Module({
  imports: [ViewingHistoryConfigModule, ObservabilityModule, AuthModule],
  controllers: [EventsController],
  providers: [EventIntake, ViewingEventPublisher],
})
export class CollectorModule {}
