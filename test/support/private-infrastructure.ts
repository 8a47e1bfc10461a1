import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CHECKOUT_ROOT } from './app-process';
import { PrivateRedis } from './infrastructure';

const run = promisify(execFile);
const INFRA = join(CHECKOUT_ROOT, 'scripts/infra.sh');

export interface PrivateInfrastructurePorts {
  kafka: number;
  kafkaController: number;
  cassandra: number;
  cassandraStorage: number;
  cassandraJmx: number;
  redis: number;
}

/** Ports away from the shared services (9092, 9042, 6379) and from the e2e suites' free ports. */
export const CHAOS_PORTS: PrivateInfrastructurePorts = {
  kafka: 19092,
  kafkaController: 19093,
  cassandra: 19042,
  cassandraStorage: 17000,
  cassandraJmx: 17199,
  redis: 16379,
};

/**
 * A Kafka, a Cassandra and a Redis of one's own (scripts/infra.sh with its own state directory and
 * ports; Redis with an append-only file), so a test may kill, stop and restart them freely: the shared
 * services of the machine are never touched.
 */
export class PrivateInfrastructure {
  private readonly redis: PrivateRedis;

  constructor(
    readonly stateDir: string,
    readonly ports: PrivateInfrastructurePorts = CHAOS_PORTS,
  ) {
    this.redis = new PrivateRedis(ports.redis);
  }

  /** What the apps and the test's clients need to reach these services. */
  get env(): Record<string, string> {
    return {
      KAFKA_BROKERS: `127.0.0.1:${this.ports.kafka}`,
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${this.ports.cassandra}`,
      REDIS_URL: this.redis.url,
    };
  }

  async start(): Promise<void> {
    await Promise.all([this.startCassandra(), this.startKafka(), this.startRedis()]);
  }

  async startKafka(): Promise<void> {
    await this.infra('start', 'kafka');
  }

  /** Clean stop: SIGTERM, the broker flushes and leaves. */
  async stopKafka(): Promise<void> {
    await this.infra('stop', 'kafka');
  }

  async startCassandra(): Promise<void> {
    await this.infra('start', 'cassandra');
  }

  /** Clean stop: SIGTERM (drain, flush). */
  async stopCassandra(): Promise<void> {
    await this.infra('stop', 'cassandra');
  }

  /** A crash: SIGKILL, nothing flushed but the commit log. */
  async killCassandra(): Promise<void> {
    await this.kill('cassandra');
  }

  async killKafka(): Promise<void> {
    await this.kill('kafka');
  }

  async startRedis(): Promise<void> {
    await this.redis.start();
  }

  /** SIGKILL; queued jobs survive in the append-only file. */
  async stopRedis(): Promise<void> {
    await this.redis.stop();
  }

  async dispose(): Promise<void> {
    await Promise.allSettled([this.infra('stop', 'kafka'), this.infra('stop', 'cassandra'), this.redis.dispose()]);
  }

  private async kill(service: 'kafka' | 'cassandra'): Promise<void> {
    const pidFile = join(this.stateDir, service, 'pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return; // already gone
    }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  }

  private async infra(command: 'start' | 'stop', service: 'kafka' | 'cassandra'): Promise<void> {
    await runInfra(this.stateDir, this.ports, [command, service]);
  }
}

/**
 * scripts/infra.sh with its state directory and ports given (INFRA_*), plus any other INFRA_* settings;
 * its standard output.
 */
export async function runInfra(
  stateDir: string,
  ports: PrivateInfrastructurePorts,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await run('bash', [INFRA, ...args], {
    env: {
      ...process.env,
      INFRA_STATE_DIR: stateDir,
      INFRA_KAFKA_PORT: String(ports.kafka),
      INFRA_KAFKA_CONTROLLER_PORT: String(ports.kafkaController),
      INFRA_CASSANDRA_PORT: String(ports.cassandra),
      INFRA_CASSANDRA_STORAGE_PORT: String(ports.cassandraStorage),
      INFRA_CASSANDRA_JMX_PORT: String(ports.cassandraJmx),
      INFRA_REDIS_PORT: String(ports.redis),
      ...extraEnv,
    },
    timeout: 600_000,
  });
  return stdout;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
