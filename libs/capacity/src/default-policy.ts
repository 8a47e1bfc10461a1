import { CapacityPolicy } from './capacity-model';
import { assumed, decided } from './figure';

/**
 * The model's choices and public rules of thumb (docs/capacity.md says why each): none was measured by this
 * project. `decided` figures are the project's own settings; `assumed` ones are to be replaced by
 * measurements on production hardware.
 */
export function defaultPolicy(): CapacityPolicy {
  return {
    utilisation: assumed(
      0.6,
      'of a core',
      'a Node process is one thread: at 60% busy a request waits ~1.5 service times on average (M/M/1: ' +
        'ρ/(1-ρ)), at 90% nine; the rest absorbs GC pauses and bursts before event-loop shedding (ADR 4)',
    ),
    minProcessesPerRegion: decided(
      2,
      'processes',
      'one crash or rolling deploy must not stop a region (invariant 2 keeps events; this keeps service)',
    ),
    cassandraReplicationFactor: decided(
      3,
      'replicas per datacenter',
      'docs/architecture.md, Durability: RF 3 per datacenter with LOCAL_QUORUM in production',
    ),
    readReplicas: assumed(
      2,
      'replicas',
      'LOCAL_QUORUM of RF 3 asks 2 replicas (one data read, one digest, counted as two full reads: an upper ' +
        'bound); the benchmark read one (RF 1)',
    ),
    cassandraCoresPerNode: assumed(16, 'cores', 'a common node size (e.g. 16 vCPU storage-optimised instances)'),
    cassandraDataBytesPerNode: assumed(
      2e12,
      'bytes',
      'data per node kept to ~2 TB so a replacement node streams in hours; size-tiered compaction needs about ' +
        'as much free again, so the disk is ~2x this',
    ),
    liveWindowDays: decided(
      14,
      'days',
      'docs/configuration.md COMPACTION_MIN_AGE_MS default (live events older than this are compacted)',
    ),
    kafkaReplicationFactor: decided(
      3,
      'replicas',
      'docs/architecture.md, Durability: topics at RF 3, min.insync.replicas 2, acks = all',
    ),
    partitionBytesPerSecond: assumed(
      10e6,
      'bytes/s',
      'Jun Rao (Confluent, 2015, "How to choose the number of topics/partitions"): a partition takes tens of ' +
        'MB/s of produce; planned at 10 MB/s',
    ),
    partitionGrowth: assumed(
      2,
      'x',
      'the topic is keyed by profileId: adding partitions later moves profiles between partitions and breaks ' +
        'their order, so it is created with twice the partitions the evacuation load needs',
    ),
    brokerWriteBytesPerSecond: assumed(
      100e6,
      'bytes/s',
      'Jay Kreps (LinkedIn, 2014, "2 million writes per second on three cheap machines"): ~75 MB/s of produce ' +
        'with 3x replication on 2014 hardware; planned at 100 MB/s of replicated writes per current broker',
    ),
    maxPartitionReplicasPerBroker: assumed(
      4000,
      'replicas',
      'Jun Rao (Confluent, 2018): up to ~4,000 partition replicas per broker',
    ),
    dailyActiveShare: assumed(
      0.4,
      'of profiles',
      'a guess (not measured; Netflix publishes no daily share): 140 million hours a day over a few hundred ' +
        'million profiles is well under an hour per profile per day, so not every profile watches every day. ' +
        "A profile is compacted once per day it had events (the sweep enqueues each event day's profiles)",
    ),
    redisOpsPerSecond: assumed(
      100_000,
      'ops/s',
      'redis.io benchmarks: ~100,000 simple operations/s on one thread; BullMQ runs Lua scripts, heavier',
    ),
    redisOpsPerJob: assumed(
      10,
      'ops',
      'BullMQ: add, move to active, lock renewals, complete; each a script of a few commands',
    ),
    redisBytesPerJob: assumed(1024, 'bytes', 'a BullMQ job hash: profile id, options, progress, outcome'),
    sweepsPerDay: decided(96, 'sweeps', 'docs/configuration.md COMPACTION_SCHEDULE default */15 * * * *'),
    completedJobsKept: decided(
      10_000,
      'jobs',
      'libs/compaction/src/compaction-job.ts removeOnComplete count 10,000 (and at most 24 h)',
    ),
  };
}
