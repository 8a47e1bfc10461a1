import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { EventLogProfileEventsSource, ProfileCompactor } from '@vh/compaction';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';

/**
 * The storage side of the service in the test's own process, on a Cassandra client of its own: to write
 * live rows as ingest would, drive a compactor step by step (a stalled worker, a race), or inspect versions.
 */
export interface Stores {
  client: Client;
  activity: ProfileActivityIndex;
  live: LiveHistoryRepository;
  compressed: CompressedHistoryRepository;
  /** A compactor of its own (no queue), as one worker would run it. */
  compactor(): ProfileCompactor;
  /** Writes a live row as an ingest host whose clock reads `writtenAt` (epoch ms) would. */
  writeAt(event: ViewingEvent, writtenAt: number): Promise<unknown>;
  close(): Promise<void>;
}

export function openStores(config: AppConfig, clientName = 'e2e-stores'): Stores {
  const client = createCassandraClient(config.cassandra, clientName);
  const activity = new ProfileActivityIndex(client, config);
  const live = new LiveHistoryRepository(client, config, activity);
  const compressed = new CompressedHistoryRepository(client, config);
  return {
    client,
    activity,
    live,
    compressed,
    compactor: () => new ProfileCompactor(live, compressed, config, new EventLogProfileEventsSource(config)),
    writeAt: (event, writtenAt) =>
      client.execute(live.insertAtWriteTime, [types.Long.fromNumber(writtenAt * 1000), ...live.params(event)], {
        prepare: true,
      }),
    close: () => client.shutdown(),
  };
}
