import { Figure } from './figure';

/**
 * The capacity model (issue 16 §4, docs/capacity.md): measured per-event and per-request costs turned
 * into counts of processes, partitions, brokers, nodes and bytes for a given load. Pure arithmetic: every
 * input is an argument, so the same figures give the same plan, and a test can check it by hand.
 */

export const SECONDS_PER_DAY = 86_400;
/** A Julian year: disk "per year" is a year of events at the given rate. */
export const SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY;
const MICROS_PER_SECOND = 1_000_000;

export interface CapacityDemand {
  /** Playback events per second, all regions together, at the rate to plan for. */
  eventsPerSecond: number;
  /** Page reads per second, all regions together. */
  readsPerSecond: number;
  profiles: number;
  regions: number;
}

/** What the benchmarks measured (or, where a run did not, a labelled assumption). */
export interface CapacityFigures {
  collectorCpuMicrosPerEvent: Figure;
  /** Sealing each event with its profile's key (ADR 9): not in collector.json, which predates it. */
  collectorSealingCpuMicrosPerEvent: Figure;
  ingestCpuMicrosPerEvent: Figure;
  /** Opening a sealed event: ingest.bench produces plain events, so ingest.json lacks it. */
  ingestSealingCpuMicrosPerEvent: Figure;
  apiCpuMicrosPerRead: Figure;
  /** Cassandra CPU to apply one event on one replica (RF 1 in the benchmark). */
  cassandraCpuMicrosPerWrite: Figure;
  /** Cassandra CPU of one page read on one replica. */
  cassandraCpuMicrosPerRead: Figure;
  liveBytesPerEvent: Figure;
  compressedBytesPerRecord: Figure;
  /** Session trails (ADR 6) in compressed history: kept for COMPACTION_TRAIL_RETENTION_DAYS, then settled. */
  trailBytesPerEvent: Figure;
  eventsPerRecord: Figure;
  /** Bytes of one event in the event log on disk (gzip, sealed), before Kafka's replication. */
  logBytesPerEvent: Figure;
  /** Records one compactor process (one sandboxed job at a time) rewrites per second. */
  compactionRecordsPerSecond: Figure;
}

/** Choices and public rules of thumb: nothing here was measured by this project. */
export interface CapacityPolicy {
  /** Share of a core a process is planned at. */
  utilisation: Figure;
  minProcessesPerRegion: Figure;
  cassandraReplicationFactor: Figure;
  /** Replicas a LOCAL_QUORUM read asks. */
  readReplicas: Figure;
  cassandraCoresPerNode: Figure;
  cassandraDataBytesPerNode: Figure;
  /** Days events stay in the live table before compaction rolls them up (COMPACTION_MIN_AGE_MS). */
  liveWindowDays: Figure;
  kafkaReplicationFactor: Figure;
  partitionBytesPerSecond: Figure;
  /** Partitions over today's need: a keyed topic cannot add partitions without moving profiles. */
  partitionGrowth: Figure;
  /** Bytes a broker writes per second (produce times replication) at full use. */
  brokerWriteBytesPerSecond: Figure;
  maxPartitionReplicasPerBroker: Figure;
  /** Share of profiles with events on a given day: each is compacted once per such day. */
  dailyActiveShare: Figure;
  redisOpsPerSecond: Figure;
  redisOpsPerJob: Figure;
  redisBytesPerJob: Figure;
  sweepsPerDay: Figure;
  completedJobsKept: Figure;
}

export type Scope = 'per region' | 'per datacenter' | 'all regions';

export interface PlanLine {
  key: string;
  label: string;
  scope: Scope;
  /** At a region's share of the load with every region up (1/R). */
  steady: number;
  /** At a surviving region's share while one region is evacuated (1/(R-1)); the steady value with one region. */
  evacuation: number;
  unit: 'processes' | 'partitions' | 'brokers' | 'nodes' | 'cores' | 'bytes' | 'ops/s' | 'instances' | 'share' | 'x';
  formula: string;
  basis: Figure[];
}

export interface CapacityPlan {
  demand: CapacityDemand;
  lines: PlanLine[];
}

export class CapacityInputError extends Error {}

/** Whole units needed for a load; the epsilon keeps 3.0000000004 from becoming 4. */
function whole(x: number): number {
  return Math.ceil(x - 1e-9);
}

function validate(demand: CapacityDemand, figures: CapacityFigures, policy: CapacityPolicy): void {
  const { eventsPerSecond, readsPerSecond, profiles, regions } = demand;
  for (const [name, v] of Object.entries({ eventsPerSecond, readsPerSecond, profiles }))
    if (!Number.isFinite(v) || v < 0) throw new CapacityInputError(`${name} must be a number >= 0, got ${v}`);
  if (!Number.isInteger(regions) || regions < 1)
    throw new CapacityInputError(`regions must be a whole number >= 1, got ${regions}`);
  for (const [name, f] of Object.entries({ ...figures, ...policy }))
    if (!Number.isFinite(f.value) || f.value < 0) throw new CapacityInputError(`${name} must be >= 0, got ${f.value}`);
  const u = policy.utilisation.value;
  if (u <= 0 || u > 1) throw new CapacityInputError(`utilisation must be in (0, 1], got ${u}`);
  for (const name of ['eventsPerRecord', 'compactionRecordsPerSecond'] as const)
    if (figures[name].value <= 0) throw new CapacityInputError(`${name} must be > 0`);
  for (const name of [
    'cassandraCoresPerNode',
    'cassandraDataBytesPerNode',
    'partitionBytesPerSecond',
    'brokerWriteBytesPerSecond',
    'maxPartitionReplicasPerBroker',
    'redisOpsPerSecond',
    'sweepsPerDay',
  ] as const)
    if (policy[name].value <= 0) throw new CapacityInputError(`${name} must be > 0`);
}

export function planCapacity(demand: CapacityDemand, figures: CapacityFigures, policy: CapacityPolicy): CapacityPlan {
  validate(demand, figures, policy);
  const f = figures;
  const p = policy;
  const R = demand.regions;
  const u = p.utilisation.value;
  // A region's share of the load: devices and readers go to their nearest region; when one is evacuated
  // its traffic is spread over the others.
  const share = { steady: 1 / R, evacuation: R > 1 ? 1 / (R - 1) : 1 };
  const both = (at: (s: number) => number) => ({ steady: at(share.steady), evacuation: at(share.evacuation) });
  const E = demand.eventsPerSecond;
  const M = demand.readsPerSecond;
  const min = p.minProcessesPerRegion.value;
  const processes = (unitsPerSecond: number, micros: number) =>
    Math.max(min, whole((unitsPerSecond * micros) / MICROS_PER_SECOND / u));
  const lines: PlanLine[] = [];

  // Stateless processes: one Node process is one core (one JavaScript thread).
  const collectorMicros = f.collectorCpuMicrosPerEvent.value + f.collectorSealingCpuMicrosPerEvent.value;
  lines.push({
    key: 'collector.processes',
    label: 'collector processes',
    scope: 'per region',
    ...both((s) => processes(E * s, collectorMicros)),
    unit: 'processes',
    formula: `max(${min}, ceil(events/s of the region × (collector + sealing) µs / 1e6 / ${u}))`,
    basis: [f.collectorCpuMicrosPerEvent, f.collectorSealingCpuMicrosPerEvent, p.utilisation, p.minProcessesPerRegion],
  });
  const ingestMicros = f.ingestCpuMicrosPerEvent.value + f.ingestSealingCpuMicrosPerEvent.value;
  const ingest = both((s) => processes(E * s, ingestMicros));
  lines.push({
    key: 'ingest.processes',
    label: 'ingest processes',
    scope: 'per region',
    ...ingest,
    unit: 'processes',
    formula: `max(${min}, ceil(events/s of the region × (ingest + opening) µs / 1e6 / ${u}))`,
    basis: [f.ingestCpuMicrosPerEvent, f.ingestSealingCpuMicrosPerEvent, p.utilisation, p.minProcessesPerRegion],
  });
  lines.push({
    key: 'api.processes',
    label: 'API processes',
    scope: 'per region',
    ...both((s) => processes(M * s, f.apiCpuMicrosPerRead.value)),
    unit: 'processes',
    formula: `max(${min}, ceil(reads/s of the region × API µs per read / 1e6 / ${u}))`,
    basis: [f.apiCpuMicrosPerRead, p.utilisation, p.minProcessesPerRegion],
  });

  // Kafka: each region has its own event log (an event is acknowledged by the region that took it).
  const logBytesPerSecond = both((s) => E * s * f.logBytesPerEvent.value);
  const byThroughput = whole(logBytesPerSecond.evacuation / p.partitionBytesPerSecond.value);
  // Partitions are fixed for the topic's life (key = profileId: adding partitions moves profiles and
  // breaks their order), so they cover the evacuation load, with room to grow.
  const partitions = whole(Math.max(ingest.evacuation, byThroughput) * p.partitionGrowth.value);
  lines.push({
    key: 'kafka.partitions',
    label: 'event topic partitions',
    scope: 'per region',
    steady: partitions,
    evacuation: partitions,
    unit: 'partitions',
    formula:
      `ceil(max(ingest processes at evacuation ${ingest.evacuation}, ` +
      `ceil(log bytes/s at evacuation / bytes/s per partition) ${byThroughput}) × growth ${p.partitionGrowth.value})`,
    basis: [
      f.logBytesPerEvent,
      p.partitionBytesPerSecond,
      p.partitionGrowth,
      f.ingestCpuMicrosPerEvent,
      f.ingestSealingCpuMicrosPerEvent,
      p.utilisation,
    ],
  });
  const rfKafka = p.kafkaReplicationFactor.value;
  const brokers = (bytesPerSecond: number) =>
    Math.max(
      rfKafka,
      whole((bytesPerSecond * rfKafka) / (p.brokerWriteBytesPerSecond.value * u)),
      whole((partitions * rfKafka) / p.maxPartitionReplicasPerBroker.value),
    );
  lines.push({
    key: 'kafka.brokers',
    label: 'Kafka brokers',
    scope: 'per region',
    steady: brokers(logBytesPerSecond.steady),
    evacuation: brokers(logBytesPerSecond.evacuation),
    unit: 'brokers',
    formula:
      `max(RF ${rfKafka}, ceil(log bytes/s × RF / (broker write bytes/s × ${u})), ` +
      `ceil(partitions × RF / replicas per broker))`,
    basis: [f.logBytesPerEvent, p.kafkaReplicationFactor, p.brokerWriteBytesPerSecond, p.maxPartitionReplicasPerBroker],
  });
  lines.push({
    key: 'kafka.diskPerYear',
    label: 'event log disk per year (kept forever)',
    scope: 'per region',
    ...both((s) => E * s * f.logBytesPerEvent.value * rfKafka * SECONDS_PER_YEAR),
    unit: 'bytes',
    formula: 'events/s of the region × log bytes per event × RF × seconds per year',
    basis: [f.logBytesPerEvent, p.kafkaReplicationFactor],
  });

  // Cassandra: one datacenter per region, every keyspace replicated RF times in each, so every datacenter
  // applies every event RF times whichever region took it; reads stay in their region (LOCAL_QUORUM).
  const rf = p.cassandraReplicationFactor.value;
  const cassandraCores = both(
    (s) =>
      (E * rf * f.cassandraCpuMicrosPerWrite.value + M * s * p.readReplicas.value * f.cassandraCpuMicrosPerRead.value) /
      MICROS_PER_SECOND,
  );
  lines.push({
    key: 'cassandra.cores',
    label: 'Cassandra CPU (cores busy)',
    scope: 'per datacenter',
    ...cassandraCores,
    unit: 'cores',
    formula:
      `(all events/s × RF ${rf} × µs per write + reads/s of the region × ${p.readReplicas.value} replicas × ` +
      `µs per read) / 1e6`,
    basis: [f.cassandraCpuMicrosPerWrite, f.cassandraCpuMicrosPerRead, p.cassandraReplicationFactor, p.readReplicas],
  });
  const eventsPerYear = E * SECONDS_PER_YEAR;
  const recordsPerYear = eventsPerYear / f.eventsPerRecord.value;
  const withoutCompaction = eventsPerYear * f.liveBytesPerEvent.value * rf;
  const liveWindowBytes = E * p.liveWindowDays.value * SECONDS_PER_DAY * f.liveBytesPerEvent.value;
  const compressedPerYear =
    recordsPerYear * f.compressedBytesPerRecord.value + eventsPerYear * f.trailBytesPerEvent.value;
  const withCompaction =
    (compressedPerYear + Math.min(liveWindowBytes, eventsPerYear * f.liveBytesPerEvent.value)) * rf;
  lines.push({
    key: 'cassandra.diskPerYear.withoutCompaction',
    label: 'history disk after a year, all live',
    scope: 'per datacenter',
    steady: withoutCompaction,
    evacuation: withoutCompaction,
    unit: 'bytes',
    formula: `all events/s × seconds per year × live bytes per event × RF ${rf}`,
    basis: [f.liveBytesPerEvent, p.cassandraReplicationFactor],
  });
  lines.push({
    key: 'cassandra.diskPerYear.withCompaction',
    label: 'history disk after a year, compacted',
    scope: 'per datacenter',
    steady: withCompaction,
    evacuation: withCompaction,
    unit: 'bytes',
    formula:
      `(events in a year / events per record × compressed bytes per record + events in a year × trail bytes ` +
      `per event + ${p.liveWindowDays.value} days of events × live bytes per event) × RF ${rf}`,
    basis: [
      f.eventsPerRecord,
      f.compressedBytesPerRecord,
      f.trailBytesPerEvent,
      f.liveBytesPerEvent,
      p.liveWindowDays,
      p.cassandraReplicationFactor,
    ],
  });
  // The benchmark's storage_reduction (7.87x) compares records already compacted with the same records live;
  // this compares a year of history as stored, the live window and trails included.
  const reduction = withCompaction > 0 ? withoutCompaction / withCompaction : 1;
  lines.push({
    key: 'cassandra.compactionReduction',
    label: "compaction's reduction of a year's history disk",
    scope: 'per datacenter',
    steady: reduction,
    evacuation: reduction,
    unit: 'x',
    formula: 'history disk all live / history disk compacted',
    basis: [f.liveBytesPerEvent, f.compressedBytesPerRecord, f.trailBytesPerEvent, f.eventsPerRecord],
  });
  const nodes = (cores: number) =>
    Math.max(
      rf,
      whole(cores / (p.cassandraCoresPerNode.value * u)),
      whole(withCompaction / p.cassandraDataBytesPerNode.value),
    );
  lines.push({
    key: 'cassandra.nodes',
    label: 'Cassandra nodes',
    scope: 'per datacenter',
    steady: nodes(cassandraCores.steady),
    evacuation: nodes(cassandraCores.evacuation),
    unit: 'nodes',
    formula:
      `max(RF ${rf}, ceil(cores / (${p.cassandraCoresPerNode.value} cores per node × ${u})), ` +
      `ceil(compacted disk after a year / data bytes per node))`,
    basis: [p.cassandraCoresPerNode, p.cassandraDataBytesPerNode, p.cassandraReplicationFactor, p.utilisation],
  });

  // Compaction rewrites a profile's whole history into a new version (profile-compactor.ts), once for each
  // day the profile had events (the sweep enqueues the profiles of each event day). At the end of a year
  // a profile holds a year of records, so the records rewritten per second are the year's records times
  // the daily active share, spread over a day, whatever the number of profiles.
  const rewrittenPerSecond = (recordsPerYear * p.dailyActiveShare.value) / SECONDS_PER_DAY;
  const compactors = Math.max(min, whole(rewrittenPerSecond / R / (f.compactionRecordsPerSecond.value * u)));
  lines.push({
    key: 'compactor.processes',
    label: 'compactor processes (end of year one)',
    scope: 'per region',
    steady: compactors,
    // Compaction may fall behind during an evacuation: only reads get slower (invariant 3).
    evacuation: compactors,
    unit: 'processes',
    formula:
      `max(${min}, ceil(records in a year × daily active share / seconds per day / regions ` +
      `/ (records/s per compactor × ${u})))`,
    basis: [f.eventsPerRecord, f.compactionRecordsPerSecond, p.dailyActiveShare, p.utilisation],
  });

  // Redis holds the compaction queue (BullMQ): one queue, so one primary (with a replica) per region.
  const jobsPerSecond = (demand.profiles * p.dailyActiveShare.value) / SECONDS_PER_DAY / R;
  const redisOps = jobsPerSecond * p.redisOpsPerJob.value;
  lines.push({
    key: 'redis.opsPerSecond',
    label: 'Redis operations/s (compaction queue)',
    scope: 'per region',
    steady: redisOps,
    evacuation: redisOps,
    unit: 'ops/s',
    formula: 'profiles × daily active share / seconds per day / regions × operations per job',
    basis: [p.dailyActiveShare, p.redisOpsPerJob],
  });
  const waitingJobs = (demand.profiles * p.dailyActiveShare.value) / p.sweepsPerDay.value / R;
  const redisBytes = (waitingJobs + p.completedJobsKept.value) * p.redisBytesPerJob.value;
  lines.push({
    key: 'redis.memoryBytes',
    label: 'Redis memory (one sweep waiting + completed jobs kept)',
    scope: 'per region',
    steady: redisBytes,
    evacuation: redisBytes,
    unit: 'bytes',
    formula: '(profiles × daily active share / sweeps per day / regions + completed jobs kept) × bytes per job',
    basis: [p.dailyActiveShare, p.sweepsPerDay, p.completedJobsKept, p.redisBytesPerJob],
  });
  const redisPrimaries = Math.max(1, whole(redisOps / (p.redisOpsPerSecond.value * u)));
  lines.push({
    key: 'redis.primaries',
    label: 'Redis primaries (each with a replica)',
    scope: 'per region',
    steady: redisPrimaries,
    evacuation: redisPrimaries,
    unit: 'instances',
    formula: `max(1, ceil(operations/s / (operations/s per instance × ${u}))); more than 1 needs the queue split`,
    basis: [p.redisOpsPerSecond, p.utilisation],
  });

  // A region evacuated: the survivors take its devices and readers. Each must hold this share over its
  // steady load; Cassandra's writes do not move (every datacenter already applies every event).
  lines.push({
    key: 'evacuation.headroom',
    label: 'headroom every region holds for an evacuation',
    scope: 'per region',
    steady: 0,
    evacuation: share.evacuation / share.steady - 1,
    unit: 'share',
    formula: 'R / (R - 1) - 1 = 1 / (R - 1) of the steady load (no other region to take it when R = 1)',
    basis: [],
  });
  const stateless = ['collector.processes', 'ingest.processes', 'api.processes'];
  const sum = (at: 'steady' | 'evacuation', keys: string[]) =>
    lines.filter((l) => keys.includes(l.key)).reduce((n, l) => n + l[at] * R, 0);
  lines.push({
    key: 'evacuation.statelessProcesses',
    label: 'collector + ingest + API processes, all regions',
    scope: 'all regions',
    steady: sum('steady', stateless),
    evacuation: sum('evacuation', stateless),
    unit: 'processes',
    formula: 'regions × (collector + ingest + API per region); provisioned for evacuation, or scaled up within it',
    basis: [],
  });
  const cassandraNodes = lines.find((l) => l.key === 'cassandra.nodes')!;
  lines.push({
    key: 'evacuation.cassandraNodes',
    label: 'Cassandra nodes, all datacenters',
    scope: 'all regions',
    steady: cassandraNodes.steady * R,
    evacuation: cassandraNodes.evacuation * R,
    unit: 'nodes',
    formula: 'regions × nodes per datacenter (nodes cannot be added during an evacuation: plan the larger)',
    basis: [],
  });
  return { demand, lines };
}

export function lineOf(plan: CapacityPlan, key: string): PlanLine {
  const line = plan.lines.find((l) => l.key === key);
  if (!line) throw new Error(`no plan line ${key}`);
  return line;
}
