import { Module } from '@nestjs/common';
import { ViewingHistoryConfigModule } from '@vh/config';
import { AuthModule, ObservabilityModule } from '@vh/http';
import { IngestionModule } from '@vh/ingestion';

@Module({
  imports: [ViewingHistoryConfigModule, ObservabilityModule.forWorkers(), AuthModule, IngestionModule],
})
export class IngestModule {}
