import { Inject, Injectable } from '@nestjs/common';
import { Client } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '../cassandra-client';
import { asStorageError } from '../cassandra-errors';
import { SweepWatermark, SweepWatermarkStore } from '../ports/sweep-watermark.store';

/** The scheduled sweep's position, persisted so that it catches up on whatever it did not sweep. */
@Injectable()
export class CompactionSweepWatermarks implements SweepWatermarkStore {
  private readonly table: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.table = `${config.cassandra.keyspace}.compaction_sweeps`;
  }

  async read(sweep: string): Promise<SweepWatermark | null> {
    try {
      const row = (
        await this.client.execute(
          `SELECT event_days_before, arrival_days_before, swept_at FROM ${this.table} WHERE sweep = ?`,
          [sweep],
          { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) },
        )
      ).first();
      if (!row || !row.get('event_days_before') || !row.get('arrival_days_before')) return null;
      return {
        eventDaysBefore: (row.get('event_days_before') as Date).getTime(),
        arrivalDaysBefore: (row.get('arrival_days_before') as Date).getTime(),
        sweptAt: (row.get('swept_at') as Date | null)?.getTime() ?? 0,
      };
    } catch (error) {
      throw asStorageError(error);
    }
  }

  /** Written only once every profile of the sweep is enqueued: a sweep that dies is simply run again. */
  async write(sweep: string, watermark: SweepWatermark): Promise<void> {
    try {
      await this.client.execute(
        `INSERT INTO ${this.table} (sweep, event_days_before, arrival_days_before, swept_at) VALUES (?, ?, ?, ?)`,
        [
          sweep,
          new Date(watermark.eventDaysBefore),
          new Date(watermark.arrivalDaysBefore),
          new Date(watermark.sweptAt),
        ],
        { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
      );
    } catch (error) {
      throw asStorageError(error);
    }
  }
}
