import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PrivateRedis } from './infrastructure';
import { CassandraLink } from './cassandra-link';
import { PrivateInfrastructurePorts, runInfra } from './private-infrastructure';
import { createTestEnvironment, TestEnvironment } from './test-environment';

export type RegionName = 'a' | 'b';

/** Region A's ports as in PrivateInfrastructurePorts; region B's Kafka, JMX and Redis ports besides. */
export interface PrivateRegionsPorts extends PrivateInfrastructurePorts {
  kafkaB: number;
  kafkaBController: number;
  cassandraBJmx: number;
  redisB: number;
}

/** Ports below Linux's ephemeral range, away from the shared services and the chaos checker's 19xxx, 29xxx. */
export const REGIONS_PORTS: PrivateRegionsPorts = {
  kafka: 24092,
  kafkaController: 24093,
  kafkaB: 24192,
  kafkaBController: 24193,
  cassandra: 24042,
  cassandraStorage: 24700,
  cassandraJmx: 24199,
  cassandraBJmx: 24299,
  redis: 24379,
  redisB: 24380,
};

/** The evacuation suite's own ports, so it never meets regions.e2e-spec.ts or the chaos checker. */
export const EVACUATION_PORTS: PrivateRegionsPorts = {
  kafka: 25092,
  kafkaController: 25093,
  kafkaB: 25192,
  kafkaBController: 25193,
  cassandra: 25042,
  cassandraStorage: 25700,
  cassandraJmx: 25199,
  cassandraBJmx: 25299,
  redis: 25379,
  redisB: 25380,
};

/**
 * The region keys suite's own ports (test/region-keys.e2e-spec.ts): only its Cassandra nodes run, but every
 * port is its own so it never meets another suite, the chaos checker (27xxx) or the regions bench (26xxx).
 */
export const REGION_KEYS_PORTS: PrivateRegionsPorts = {
  kafka: 23092,
  kafkaController: 23093,
  kafkaB: 23192,
  kafkaBController: 23193,
  cassandra: 23042,
  cassandraStorage: 23700,
  cassandraJmx: 23199,
  cassandraBJmx: 23299,
  redis: 23379,
  redisB: 23380,
};

/** Each region's Kafka broker and Cassandra node, as scripts/infra.sh names them. */
const SERVICES: Record<RegionName, { kafka: string; cassandra: string }> = {
  a: { kafka: 'kafka', cassandra: 'cassandra' },
  b: { kafka: 'kafka-b', cassandra: 'cassandra-b' },
};

const ALL_SERVICES = Object.values(SERVICES).flatMap(({ kafka, cassandra }) => [kafka, cassandra]);

const DATA_CENTERS: Record<RegionName, string> = { a: 'dc1', b: 'dc2' };
const CASSANDRA_ADDRESSES: Record<RegionName, string> = { a: '127.0.0.1', b: '127.0.0.2' };
/** With a cuttable link, the addresses the nodes reach each other at: relays in the test process. */
const RELAY_ADDRESSES: Record<RegionName, string> = { a: '127.0.0.4', b: '127.0.0.3' };

/**
 * Two regions on loopback (scripts/infra.sh --regions 2, a state directory and ports of their own): each
 * region has its own Kafka cluster and Redis, and its own Cassandra node (127.0.0.1 in dc1, 127.0.0.2 in
 * dc2) of one cluster. The shared services of the machine are never touched.
 */
export class PrivateRegions {
  private readonly redis: Record<RegionName, PrivateRedis>;
  /** The link between the datacenters, when the suite asked for one it can cut. */
  private readonly link: CassandraLink | null;

  constructor(
    readonly stateDir: string,
    readonly ports: PrivateRegionsPorts = REGIONS_PORTS,
    options: { cuttableLink?: boolean } = {},
  ) {
    this.redis = { a: new PrivateRedis(ports.redis), b: new PrivateRedis(ports.redisB) };
    this.link = options.cuttableLink
      ? new CassandraLink(
          (['a', 'b'] as const).map((r) => ({ relay: RELAY_ADDRESSES[r], node: CASSANDRA_ADDRESSES[r] })),
          ports.cassandraStorage,
        )
      : null;
  }

  /** The address a region's Cassandra node is known by in its cluster (`nodetool status`). */
  nodeAddress(region: RegionName): string {
    return (this.link ? RELAY_ADDRESSES : CASSANDRA_ADDRESSES)[region];
  }

  /** A network partition between the regions: nothing passes between the datacenters until `heal`. */
  partition(): void {
    if (!this.link) throw new Error('these regions were started without a cuttable link');
    this.link.cut();
  }

  heal(): void {
    this.link?.heal();
  }

  /** What a region's apps and the test's clients need: its own services, the keyspace in both datacenters. */
  env(region: RegionName): Record<string, string> {
    const kafka = region === 'a' ? this.ports.kafka : this.ports.kafkaB;
    return {
      KAFKA_BROKERS: `127.0.0.1:${kafka}`,
      CASSANDRA_CONTACT_POINTS: `${CASSANDRA_ADDRESSES[region]}:${this.ports.cassandra}`,
      CASSANDRA_LOCAL_DC: DATA_CENTERS[region],
      CASSANDRA_REPLICATION: `${DATA_CENTERS.a}:1,${DATA_CENTERS.b}:1`,
      REDIS_URL: this.redis[region].url,
    };
  }

  /** A suite's environment in each region: one keyspace, replicated to both datacenters; each region's own topics. */
  async environments(suite: string): Promise<Record<RegionName, TestEnvironment>> {
    const a = await createTestEnvironment(suite, this.env('a'));
    const b = await createTestEnvironment(suite, {
      ...this.env('b'),
      CASSANDRA_KEYSPACE: a.env.CASSANDRA_KEYSPACE,
      PROFILE_KEYS_KEYSPACE: a.env.PROFILE_KEYS_KEYSPACE,
    });
    return { a, b };
  }

  /** From an empty state directory: both regions' Cassandra nodes, both Kafka clusters, both Redis at once. */
  async start(): Promise<void> {
    await this.startFresh();
    await Promise.all([
      this.infra('start', 'cassandra-ab'),
      this.infra('start', 'kafka-ab'),
      this.redis.a.start(),
      this.redis.b.start(),
    ]);
  }

  /** From an empty state directory: the two datacenters alone (a suite of Cassandra clients, no apps). */
  async startCassandra(): Promise<void> {
    await this.startFresh();
    await this.infra('start', 'cassandra-ab');
  }

  /** A region's Kafka broker and Cassandra node die at once (SIGKILL: nothing flushed but what is on disk). */
  async kill(region: RegionName): Promise<void> {
    await Promise.all([this.killService(SERVICES[region].kafka), this.killService(SERVICES[region].cassandra)]);
  }

  /** A killed region's broker and node started again on their data (the node rejoins its cluster). */
  async restart(region: RegionName): Promise<void> {
    await Promise.all([this.infra('start', SERVICES[region].kafka), this.infra('start', SERVICES[region].cassandra)]);
  }

  /** Cassandra's nodetool against a region's node (e.g. `repair -full KEYSPACE`); its output, without debug lines. */
  async nodetool(region: RegionName, ...args: string[]): Promise<string> {
    const output = await this.infra(region === 'a' ? 'nodetool' : 'nodetool-b', ...args);
    return output
      .split('\n')
      .filter((line) => !line.includes(' DEBUG '))
      .join('\n');
  }

  /** The hints a region's node holds on disk for nodes it could not reach (flushed every 10 s). */
  hints(region: RegionName): { files: number; bytes: number } {
    const files = this.hintFiles(region);
    return { files: files.length, bytes: files.reduce((n, f) => n + f.bytes, 0) };
  }

  /** Each hint file a region's node holds (a file's name is its target host and creation time): to tell new from old. */
  hintFiles(region: RegionName): { name: string; bytes: number }[] {
    const dir = join(this.stateDir, SERVICES[region].cassandra, 'hints');
    const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.hints')) : [];
    return names.flatMap((name) => {
      try {
        return [{ name, bytes: statSync(join(dir, name)).size }];
      } catch {
        return []; // dispatched and deleted between the listing and the stat
      }
    });
  }

  /** SIGKILL: the state is removed anyway, and a clean stop of four JVMs takes half a minute. */
  async dispose(): Promise<void> {
    for (const service of ALL_SERVICES) await this.killService(service);
    await Promise.allSettled([this.redis.a.dispose(), this.redis.b.dispose(), this.link?.dispose()]);
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  private async startFresh(): Promise<void> {
    // A crashed earlier run may have left its JVMs running detached: infra.sh would reuse them once their pid
    // files were gone, so they are killed first (only pids whose command line names this state directory).
    for (const service of ALL_SERVICES) await this.killService(service);
    rmSync(this.stateDir, { recursive: true, force: true });
    await this.link?.start();
  }

  private async killService(service: string): Promise<void> {
    const pid = ownedPid(join(this.stateDir, service, 'pid'));
    if (pid === null) return;
    process.kill(pid, 'SIGKILL');
    while (ownedPid(join(this.stateDir, service, 'pid')) === pid) await new Promise((r) => setTimeout(r, 100));
  }

  private async infra(...args: string[]): Promise<string> {
    return runInfra(this.stateDir, this.ports, [...args, '--regions', '2'], {
      INFRA_KAFKA_B_PORT: String(this.ports.kafkaB),
      INFRA_KAFKA_B_CONTROLLER_PORT: String(this.ports.kafkaBController),
      INFRA_CASSANDRA_B_JMX_PORT: String(this.ports.cassandraBJmx),
      ...(this.link && {
        INFRA_CASSANDRA_A_BROADCAST: RELAY_ADDRESSES.a,
        INFRA_CASSANDRA_B_BROADCAST: RELAY_ADDRESSES.b,
      }),
      // viewing-history-regions-e2e for regions.e2e-spec.ts: suites' clusters never gossip with each other.
      INFRA_CASSANDRA_CLUSTER: `viewing-history-${basename(this.stateDir)}`,
    });
  }
}

/** The pid in the file, only while its command line names a JVM of ours (a recycled pid is never signalled). */
function ownedPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /CassandraDaemon|kafka\.Kafka/.test(cmdline) && cmdline.includes(`${dirname(file)}/`) ? pid : null;
  } catch {
    return null;
  }
}
