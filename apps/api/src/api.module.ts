import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module } from '@nestjs/common';
import { ViewingHistoryConfigModule } from '@vh/config';
import { DeadLettersModule } from '@vh/dead-letters';
import { ErasureModule, ProfileErasure } from '@vh/erasure';
import { AuthModule, ConsoleSessionModule, ObservabilityModule, OperatorOnlyMiddleware } from '@vh/http';
import { ViewingEventPublisher } from '@vh/messaging';
import { StorageModule } from '@vh/storage';
import { BulkHistoryController } from './history/bulk-history.controller';
import { CompactionRequests } from './shared/compaction-requests';
import { CompactionsController } from './admin/compactions.controller';
import { ConsoleController } from './console/console.controller';
import { OperationsOverview } from './console/operations-overview';
import { OverviewController } from './console/overview.controller';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { ProfileInspectionController } from './history/profile-inspection.controller';
import { HistoryController } from './history/history.controller';
import { ProfileErasureController } from './erasure/profile-erasure.controller';
import { HistoryDeletion } from './history/history-deletion';
import { HistoryExport } from './history/history-export';
import { ViewingHistoryReader } from './history/viewing-history.reader';
import { ProfileSettingsController } from './history/profile-settings.controller';

@Module({
  imports: [
    ViewingHistoryConfigModule,
    ObservabilityModule.forRequests(),
    AuthModule,
    ConsoleSessionModule,
    StorageModule,
    DeadLettersModule,
    ErasureModule,
    // Operators' view of the compaction queue, under the admin routes; an Express router that Nest's
    // guards do not reach, so it gets the operator check as its own middleware.
    BullBoardModule.forRoot({ route: '/admin/queues', adapter: ExpressAdapter, middleware: OperatorOnlyMiddleware }),
  ],
  controllers: [
    HistoryController,
    BulkHistoryController,
    CompactionsController,
    ProfileSettingsController,
    DeadLettersController,
    ProfileErasureController,
    ProfileInspectionController,
    OverviewController,
    ConsoleController,
  ],
  providers: [
    ViewingHistoryReader,
    HistoryExport,
    HistoryDeletion,
    ViewingEventPublisher,
    CompactionRequests,
    ProfileErasure,
    OperationsOverview,
  ],
})
export class ApiModule {}
