import { Module } from '@nestjs/common';
import {
  DeadLetterPublisher,
  DeadLetterSink,
  EventLogBatchHandler,
  EventLogConsumer,
  EventLogStallsModule,
  ViewingEventPublisher,
} from '@vh/messaging';
import {
  AbandonedErasureFinisher,
  ErasureModule,
  IngestProgress,
  KafkaIngestProgress,
  ProfileErasure,
  ShreddingKeySweeper,
} from '@vh/erasure';
import { LiveHistoryRepository, LiveHistoryWriter, StorageModule, StoredHistoryEraser } from '@vh/storage';
import { LiveHistoryIngestor, ProfileHistoryEraser, StaleKeyRepublisher } from './live-history.ingestor';

/** Event log -> live history: the consumer transport, the ingestor and its dead-letter sink. */
@Module({
  imports: [StorageModule, EventLogStallsModule, ErasureModule],
  providers: [
    LiveHistoryIngestor,
    { provide: LiveHistoryWriter, useExisting: LiveHistoryRepository },
    { provide: ProfileHistoryEraser, useExisting: StoredHistoryEraser },
    // Seals with the profile's current key (ErasureModule's sealer): the copy of an event of an erased key.
    ViewingEventPublisher,
    { provide: StaleKeyRepublisher, useExisting: ViewingEventPublisher },
    { provide: EventLogBatchHandler, useExisting: LiveHistoryIngestor },
    { provide: DeadLetterSink, useClass: DeadLetterPublisher },
    EventLogConsumer,
    // Ingest destroys shredding keys: only it knows when it is past every event sealed with one (ADR 9).
    { provide: IngestProgress, useClass: KafkaIngestProgress },
    ShreddingKeySweeper,
    // ... and finishes erasures that outlived their lease without a mark, through the API's own path (ADR 9).
    ProfileErasure,
    AbandonedErasureFinisher,
  ],
  exports: [EventLogConsumer],
})
export class IngestionModule {}
