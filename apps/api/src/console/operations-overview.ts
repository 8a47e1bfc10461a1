import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Admin } from 'kafkajs';
import { AppConfig } from '@vh/config';
import { DeadLetters } from '@vh/dead-letters';
import { createKafka, eventLogLag, PartitionLag, withTimeout } from '@vh/messaging';
import { CompactionRequests } from '../shared/compaction-requests';
import { parsePrometheusText, Sample, sumBy } from './prometheus-text';

/** Above the apps' own probe bound (2 s per dependency), so a slow dependency reads as down, not as unreachable. */
const PEER_TIMEOUT_MS = 5_000;

interface AppStatus {
  app: string;
  url: string;
  /** ready: /health/ready answered 200; not-ready: it answered 503 (details say which dependency). */
  status: 'ready' | 'not-ready' | 'unreachable';
  dependencies: Record<string, { status: string; message?: string }>;
}

/**
 * What the console's overview shows, gathered live from the apps' own /health/ready and /metrics (no
 * Prometheus server needed), the ingest group's committed offsets, the dead-letter topic and the queue.
 * Counters are totals; the page turns two samples into rates. Each part fails alone, saying why.
 */
@Injectable()
export class OperationsOverview implements OnApplicationShutdown {
  private admin: Promise<Admin> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly deadLetters: DeadLetters,
    private readonly compactions: CompactionRequests,
  ) {}

  async sample() {
    const { http } = this.config;
    const peers = {
      collector: http.collectorPort,
      ingest: http.ingestPort,
      api: http.apiPort,
      compactor: http.compactorPort,
    };
    const [apps, lag, deadLetters, queue] = await Promise.all([
      Promise.all(Object.entries(peers).map(([app, port]) => this.peer(app, `http://127.0.0.1:${port}`))),
      settle(() => this.ingestLag()),
      settle(() => this.deadLetters.count()),
      settle(() => this.compactions.recent(20)),
    ]);
    const samples = apps.flatMap((a) => a.samples);
    const total = (name: string) => sumBy(samples, name)[''] ?? 0;
    return {
      sampledAt: new Date().toISOString(),
      apps: apps.map((a) => a.status),
      dependencies: dependenciesOf(apps.map((a) => a.status)),
      ingestLag: lag,
      counters: {
        eventsAccepted: total('viewing_history_events_accepted_total'),
        eventsWritten: total('viewing_history_ingest_events_written_total'),
        deadLettered: total('viewing_history_dead_letters_total'),
        requestsShed: sumBy(samples, 'viewing_history_requests_shed_total', 'reason'),
        compactionJobs: sumBy(samples, 'viewing_history_compaction_jobs_total', 'outcome'),
      },
      deadLetters: 'error' in deadLetters ? deadLetters : { pending: deadLetters.pending },
      compactionQueue:
        'error' in queue
          ? queue
          : {
              counts: queue.counts,
              recentFailures: queue.jobs
                .filter((j) => j.state === 'failed')
                .map((j) => ({
                  jobId: j.jobId,
                  profileId: (j.data as { profileId?: string }).profileId ?? null,
                  failedReason: j.failedReason,
                })),
            },
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await (await this.admin?.catch(() => null))?.disconnect();
  }

  private async ingestLag(): Promise<{ partitions: PartitionLag[]; total: number }> {
    this.admin ??= (async () => {
      const admin = createKafka(this.config.kafka, 'console').admin();
      await admin.connect();
      return admin;
    })();
    try {
      const partitions = await withTimeout(eventLogLag(await this.admin, this.config), PEER_TIMEOUT_MS * 2);
      return { partitions, total: partitions.reduce((sum, p) => sum + p.lag, 0) };
    } catch (error) {
      const admin = this.admin;
      this.admin = null;
      void admin.then((a) => a.disconnect()).catch(() => undefined);
      throw error;
    }
  }

  private async peer(app: string, url: string): Promise<{ status: AppStatus; samples: Sample[] }> {
    const status: AppStatus = { app, url, status: 'unreachable', dependencies: {} };
    let samples: Sample[] = [];
    try {
      const [health, metrics] = await Promise.all([
        fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(PEER_TIMEOUT_MS) }),
        fetch(`${url}/metrics`, { signal: AbortSignal.timeout(PEER_TIMEOUT_MS) }),
      ]);
      const body = (await health.json().catch(() => ({}))) as { details?: AppStatus['dependencies'] };
      status.status = health.ok ? 'ready' : 'not-ready';
      status.dependencies = body.details ?? {};
      if (metrics.ok) samples = parsePrometheusText(await metrics.text());
    } catch {
      // unreachable: said so in the status
    }
    return { status, samples };
  }
}

/** Kafka, Cassandra and Redis as the apps see them: up only if every app that answered found it up. */
function dependenciesOf(apps: readonly AppStatus[]) {
  const result: Record<string, { status: 'up' | 'down' | 'unknown'; messages: string[] }> = {};
  for (const name of ['kafka', 'cassandra', 'redis']) {
    const seen = apps.map((a) => ({ app: a.app, check: a.dependencies[name] })).filter((s) => s.check);
    const down = seen.filter((s) => s.check!.status !== 'up');
    result[name] = {
      status: seen.length === 0 ? 'unknown' : down.length ? 'down' : 'up',
      messages: down.map((d) => `${d.app}: ${d.check!.message ?? 'down'}`),
    };
  }
  return result;
}

async function settle<T>(part: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await part();
  } catch (error) {
    return { error: (error as Error).message };
  }
}
