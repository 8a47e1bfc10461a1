import { Module } from '@nestjs/common';
import {
  DeadLetterPublisher,
  DeadLetterSink,
  EventLogBatchHandler,
  EventLogConsumer,
  EventLogStallsModule,
} from '@vh/messaging';
import { ErasureModule } from '@vh/erasure';
import { LiveHistoryRepository, LiveHistoryWriter, StorageModule, StoredHistoryEraser } from '@vh/storage';
import { LiveHistoryIngestor, ProfileHistoryEraser } from './live-history.ingestor';

/** Event log -> live history: the consumer transport, the ingestor and its dead-letter sink. */
@Module({
  imports: [StorageModule, EventLogStallsModule, ErasureModule],
  providers: [
    LiveHistoryIngestor,
    { provide: LiveHistoryWriter, useExisting: LiveHistoryRepository },
    { provide: ProfileHistoryEraser, useExisting: StoredHistoryEraser },
    { provide: EventLogBatchHandler, useExisting: LiveHistoryIngestor },
    { provide: DeadLetterSink, useClass: DeadLetterPublisher },
    EventLogConsumer,
  ],
  exports: [EventLogConsumer],
})
export class IngestionModule {}
