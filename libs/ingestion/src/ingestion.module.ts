import { Module } from '@nestjs/common';
import {
  DeadLetterPublisher,
  DeadLetterSink,
  EventLogBatchHandler,
  EventLogConsumer,
  EventLogStallsModule,
} from '@vh/messaging';
import { LiveHistoryRepository, LiveHistoryWriter, StorageModule } from '@vh/storage';
import { LiveHistoryIngestor } from './live-history.ingestor';

/** Event log -> live history: the consumer transport, the ingestor and its dead-letter sink. */
@Module({
  imports: [StorageModule, EventLogStallsModule],
  providers: [
    LiveHistoryIngestor,
    { provide: LiveHistoryWriter, useExisting: LiveHistoryRepository },
    { provide: EventLogBatchHandler, useExisting: LiveHistoryIngestor },
    { provide: DeadLetterSink, useClass: DeadLetterPublisher },
    EventLogConsumer,
  ],
  exports: [EventLogConsumer],
})
export class IngestionModule {}
