import { Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Client } from 'cassandra-driver';
import IORedis, { Redis } from 'ioredis';
import { Admin } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { createKafka, EventLogStalls, withTimeout } from '@vh/messaging';
import { createCassandraClient, pendingMigrations } from '@vh/storage';

const PROBE_TIMEOUT_MS = 2_000;

/** Readiness probes of the three dependencies, each a real round trip with a short bound. */
@Injectable()
export class DependencyHealth implements OnApplicationShutdown {
  private cassandra: Client | null = null;
  /** Its connection as it is made: a connect that outlives a probe's timeout is still the one client, not one each. */
  private kafka: Promise<Admin> | null = null;
  private redis: Redis | null = null;

  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly config: AppConfig,
    /** Present only in the app that consumes the event log (ingest). */
    @Optional() private readonly stalls?: EventLogStalls,
  ) {}

  /** Whether this app consumes the event log, so readiness also says whether it flows. */
  get consumesEventLog(): boolean {
    return this.stalls !== undefined;
  }

  /** Down while a partition waits on storage (invariant 2: it waits, never drops), saying why. */
  async eventLogFlowing() {
    return this.probe('eventLog', async () => {
      const stalled = this.stalls?.describe() ?? [];
      if (stalled.length > 0) throw new Error(stalled.join('; '));
    });
  }

  async cassandraReady() {
    return this.probe('cassandra', async () => {
      this.cassandra ??= createCassandraClient(this.config.cassandra, `${this.config.kafka.clientId}-health`);
      await this.cassandra.execute('SELECT release_version FROM system.local');
      // Answering is not enough: without its tables every read would fail with a 500.
      const pending = await pendingMigrations(this.cassandra, this.config.cassandra.keyspace);
      if (pending.length > 0)
        throw new Error(
          `keyspace ${this.config.cassandra.keyspace} lacks migrations ${pending.join(', ')}: run \`npm run migrate\``,
        );
    });
  }

  async kafkaReady() {
    return this.probe('kafka', async () => {
      this.kafka ??= (async () => {
        const admin = createKafka(this.config.kafka, 'health').admin();
        await admin.connect();
        return admin;
      })();
      await (await this.kafka).describeCluster();
    });
  }

  async redisReady() {
    return this.probe('redis', async () => {
      this.redis ??= new IORedis(this.config.redis.url, { maxRetriesPerRequest: 1 });
      await this.redis.ping();
    });
  }

  private async probe<K extends string>(key: K, check: () => Promise<void>) {
    const session = this.indicators.check(key);
    try {
      await withTimeout(check(), PROBE_TIMEOUT_MS);
      return session.up();
    } catch (error) {
      if (key === 'kafka') {
        // Dropped at once and closed in the background: kafkajs's disconnect waits for a request the broker never
        // answers (its timeout stops once disconnecting), and readiness runs one check at a time (HealthController).
        const admin = this.kafka;
        this.kafka = null;
        void admin?.then((client) => client.disconnect()).catch(() => undefined);
      }
      return session.down({ message: (error as Error).message });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([
      this.cassandra?.shutdown(),
      this.kafka?.then((client) => client.disconnect()),
      this.redis?.quit(),
    ]);
  }
}
