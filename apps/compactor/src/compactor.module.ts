import { Module } from '@nestjs/common';
import { ViewingHistoryConfigModule } from '@vh/config';
import { AuthModule, ObservabilityModule } from '@vh/http';
import { CompactionWorker } from './compaction.worker';

@Module({
  imports: [ViewingHistoryConfigModule, ObservabilityModule.forWorkers(), AuthModule],
  providers: [CompactionWorker],
})
export class CompactorModule {}
