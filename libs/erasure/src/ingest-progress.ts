import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Admin } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { createKafka, eventLogLag, profilePartition } from '@vh/messaging';

/** Where ingest stands on the event log: Kafka in production, a fake in unit tests. */
export abstract class IngestProgress {
  /** The partition of the event log a profile's messages go to. */
  abstract partitionOf(profileId: string): Promise<number>;
  /** Per partition: its end (the next offset) and the ingest group's committed offset (null: none yet). */
  abstract positions(): Promise<Map<number, { end: string; committed: string | null }>>;
}

/** Reads the event log's ends and the ingest group's committed offsets with the Kafka admin client. */
@Injectable()
export class KafkaIngestProgress extends IngestProgress implements OnApplicationShutdown {
  private admin: Promise<Admin> | null = null;

  constructor(private readonly config: AppConfig) {
    super();
  }

  async partitionOf(profileId: string): Promise<number> {
    const topic = this.config.kafka.eventTopic;
    const metadata = await (await this.connected()).fetchTopicMetadata({ topics: [topic] });
    return profilePartition(topic, metadata.topics[0].partitions, profileId);
  }

  async positions() {
    const lag = await eventLogLag(await this.connected(), this.config);
    return new Map(lag.map((p) => [p.partition, { end: p.end, committed: p.committed }]));
  }

  async onApplicationShutdown(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    if (admin) await (await admin.catch(() => null))?.disconnect();
  }

  private connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = createKafka(this.config.kafka, 'key-sweeper').admin();
      this.admin = admin.connect().then(() => admin);
      this.admin.catch(() => (this.admin = null));
    }
    return this.admin;
  }
}
