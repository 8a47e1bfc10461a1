import fc from 'fast-check';
import {
  CapacityDemand,
  CapacityFigures,
  CapacityInputError,
  CapacityPolicy,
  lineOf,
  planCapacity,
  SECONDS_PER_YEAR,
} from './capacity-model';
import { defaultPolicy } from './default-policy';
import { decided, measured } from './figure';
import { renderPlan } from './render-plan';

const m = (value: number) => measured(value, 'unit', 'test');
const d = (value: number) => decided(value, 'unit', 'test');

/** Round numbers, so the expected counts below can be worked out by hand. */
const figures: CapacityFigures = {
  collectorCpuMicrosPerEvent: m(60),
  collectorSealingCpuMicrosPerEvent: m(20),
  ingestCpuMicrosPerEvent: m(40),
  ingestSealingCpuMicrosPerEvent: m(10),
  apiCpuMicrosPerRead: m(1000),
  cassandraCpuMicrosPerWrite: m(20),
  cassandraCpuMicrosPerRead: m(1000),
  liveBytesPerEvent: m(40),
  compressedBytesPerRecord: m(20),
  trailBytesPerEvent: m(5),
  eventsPerRecord: m(4),
  logBytesPerEvent: m(400),
  compactionRecordsPerSecond: m(4000),
};

const policy: CapacityPolicy = {
  utilisation: d(0.5),
  minProcessesPerRegion: d(2),
  cassandraReplicationFactor: d(3),
  readReplicas: d(2),
  cassandraCoresPerNode: d(16),
  cassandraDataBytesPerNode: d(2e12),
  liveWindowDays: d(14),
  kafkaReplicationFactor: d(3),
  partitionBytesPerSecond: d(10e6),
  partitionGrowth: d(2),
  brokerWriteBytesPerSecond: d(20e6),
  maxPartitionReplicasPerBroker: d(4000),
  dailyActiveShare: d(0.5),
  redisOpsPerSecond: d(100_000),
  redisOpsPerJob: d(10),
  redisBytesPerJob: d(1000),
  sweepsPerDay: d(96),
  completedJobsKept: d(10_000),
};

const demand: CapacityDemand = { eventsPerSecond: 100_000, readsPerSecond: 2_000, profiles: 1_000_000, regions: 2 };

describe('planCapacity, worked by hand', () => {
  // Two regions: steady, each takes 50,000 events/s and 1,000 reads/s; evacuated, the survivor takes all.
  const plan = planCapacity(demand, figures, policy);
  const at = (key: string) => {
    const { steady, evacuation } = lineOf(plan, key);
    return { steady, evacuation };
  };

  it('sizes the stateless processes from CPU per event or read at half a core each', () => {
    // collector: 50,000 × (60 + 20) µs = 4 cores → 8 processes at 0.5; evacuated 100,000 × 80 µs = 8 → 16
    expect(at('collector.processes')).toEqual({ steady: 8, evacuation: 16 });
    // ingest: 50,000 × (40 + 10) µs = 2.5 cores → 5; evacuated 5 cores → 10
    expect(at('ingest.processes')).toEqual({ steady: 5, evacuation: 10 });
    // API: 1,000 reads × 1 ms = 1 core → 2; evacuated 2 cores → 4
    expect(at('api.processes')).toEqual({ steady: 2, evacuation: 4 });
  });

  it('sizes Kafka for the evacuation load', () => {
    // 100,000 × 400 B = 40 MB/s → 4 partitions by bytes; 10 ingest processes at evacuation; × 2 growth
    expect(at('kafka.partitions')).toEqual({ steady: 20, evacuation: 20 });
    // steady 20 MB/s × 3 replicas = 60 MB/s over 20 MB/s × 0.5 per broker = 6; evacuated 120 / 10 = 12
    expect(at('kafka.brokers')).toEqual({ steady: 6, evacuation: 12 });
    // 50,000 × 400 B × 3 replicas × 31,557,600 s = 1.893456e15 B a year
    expect(at('kafka.diskPerYear').steady).toBeCloseTo(1.893456e15, -6);
    expect(at('kafka.diskPerYear').evacuation).toBeCloseTo(3.786912e15, -6);
  });

  it('charges every datacenter every write, and only its own region its reads', () => {
    // writes 100,000 × 3 × 20 µs = 6 cores; reads 1,000 × 2 replicas × 1 ms = 2 → 8; evacuated 6 + 4 = 10
    expect(at('cassandra.cores')).toEqual({ steady: 8, evacuation: 10 });
  });

  it('stores a year of events live, or compressed with a 14-day live window', () => {
    const eventsPerYear = 100_000 * 31_557_600; // 3.15576e12
    expect(SECONDS_PER_YEAR).toBe(31_557_600);
    // all live: 3.15576e12 × 40 B × 3 replicas = 3.786912e14
    expect(at('cassandra.diskPerYear.withoutCompaction').steady).toBeCloseTo(3.786912e14, -4);
    // records 7.8894e11 × 20 B = 1.57788e13; trails 3.15576e12 × 5 B = 1.57788e13;
    // live window 100,000 × 14 × 86,400 × 40 B = 4.8384e12; sum 3.6396e13 × 3 replicas = 1.09188e14
    expect(eventsPerYear).toBe(3.15576e12);
    expect(at('cassandra.diskPerYear.withCompaction').steady).toBeCloseTo(1.09188e14, -4);
    // 3.786912e14 / 1.09188e14 = 3.468x
    expect(at('cassandra.compactionReduction').steady).toBeCloseTo(3.468, 3);
    // nodes: data 1.09188e14 / 2e12 = 54.6 → 55, above CPU (8 or 10 cores / 8 per node) and RF
    expect(at('cassandra.nodes')).toEqual({ steady: 55, evacuation: 55 });
  });

  it('takes the CPU bound when it is the larger one', () => {
    const small = { ...policy, cassandraCoresPerNode: d(2), cassandraDataBytesPerNode: d(1e15) };
    // 8 cores / (2 × 0.5) = 8 nodes; evacuated 10 / 1 = 10; data 1.09e14 / 1e15 → 1
    expect(lineOf(planCapacity(demand, figures, small), 'cassandra.nodes')).toMatchObject({
      steady: 8,
      evacuation: 10,
    });
  });

  it('rewrites each active profile whole once a day', () => {
    // a year's records 7.8894e11 × 0.5 active / 86,400 s = 4,565,625 records/s; per region 2,282,812.5;
    // over 4,000 × 0.5 per process = 1,141.4 → 1,142
    expect(at('compactor.processes').steady).toBe(1142);
    // jobs: 1e6 × 0.5 / 86,400 / 2 regions = 2.894 per s × 10 ops
    expect(at('redis.opsPerSecond').steady).toBeCloseTo(28.935, 3);
    // one sweep waiting: 1e6 × 0.5 / 96 / 2 = 2,604.17 jobs, plus 10,000 kept, × 1,000 B
    expect(at('redis.memoryBytes').steady).toBeCloseTo(12_604_166.67, 1);
    expect(at('redis.primaries').steady).toBe(1);
  });

  it('prices the evacuation: each of two regions holds its own load again', () => {
    expect(at('evacuation.headroom').evacuation).toBe(1);
    // (8 + 5 + 2) × 2 regions = 30; evacuated (16 + 10 + 4) × 2 = 60
    expect(at('evacuation.statelessProcesses')).toEqual({ steady: 30, evacuation: 60 });
  });

  it('refuses inputs that have no meaning', () => {
    expect(() => planCapacity({ ...demand, regions: 0 }, figures, policy)).toThrow(CapacityInputError);
    expect(() => planCapacity({ ...demand, eventsPerSecond: -1 }, figures, policy)).toThrow(CapacityInputError);
    expect(() => planCapacity(demand, figures, { ...policy, utilisation: d(1.5) })).toThrow(CapacityInputError);
    expect(() => planCapacity(demand, { ...figures, eventsPerRecord: m(0) }, policy)).toThrow(CapacityInputError);
  });

  it('prints every line with the figures it rests on', () => {
    const text = renderPlan(planCapacity(demand, figures, defaultPolicy()));
    expect(text).toContain('collector processes (per region): steady');
    expect(text).toMatch(/\[assumed (A\d+)\] 0.6 of a core[\s\S]*\n {2}\1 0.6 of a core: a Node process/);
    // lines resting on an assumption say so
    expect(text).toMatch(/API processes \(per region\): .*ASSUMED/);
  });
});

describe('planCapacity, properties', () => {
  const demands = fc.record({
    eventsPerSecond: fc.double({ min: 0, max: 1e8, noNaN: true }),
    readsPerSecond: fc.double({ min: 0, max: 1e8, noNaN: true }),
    profiles: fc.integer({ min: 0, max: 2e9 }),
    regions: fc.integer({ min: 1, max: 12 }),
  });
  const realPolicy = defaultPolicy();

  it('more events or more reads never lower any count', () => {
    fc.assert(
      fc.property(
        demands,
        fc.constantFrom('eventsPerSecond', 'readsPerSecond') as fc.Arbitrary<'eventsPerSecond' | 'readsPerSecond'>,
        (base, what) => {
          const before = planCapacity(base, figures, realPolicy);
          const after = planCapacity({ ...base, [what]: base[what] * 2 }, figures, realPolicy);
          for (const line of before.lines) {
            const doubled = lineOf(after, line.key);
            expect(doubled.steady).toBeGreaterThanOrEqual(line.steady);
            expect(doubled.evacuation).toBeGreaterThanOrEqual(line.evacuation);
          }
        },
      ),
    );
  });

  it('an evacuation never needs less than steady', () => {
    fc.assert(
      fc.property(demands, (base) => {
        for (const line of planCapacity(base, figures, realPolicy).lines)
          expect(line.evacuation).toBeGreaterThanOrEqual(line.steady);
      }),
    );
  });

  it("the survivors can absorb the lost region's load, and fewer regions need more headroom each", () => {
    fc.assert(
      fc.property(demands, fc.integer({ min: 2, max: 11 }), (base, regions) => {
        const plan = planCapacity({ ...base, regions }, figures, realPolicy);
        const more = planCapacity({ ...base, regions: regions + 1 }, figures, realPolicy);
        expect(lineOf(plan, 'evacuation.headroom').evacuation).toBeGreaterThan(
          lineOf(more, 'evacuation.headroom').evacuation,
        );
        // the R - 1 survivors' ingest processes, at the utilisation target, cover every event
        const perEventCores =
          (figures.ingestCpuMicrosPerEvent.value + figures.ingestSealingCpuMicrosPerEvent.value) / 1e6;
        const survivors = (regions - 1) * lineOf(plan, 'ingest.processes').evacuation;
        expect(survivors * realPolicy.utilisation.value).toBeGreaterThanOrEqual(
          base.eventsPerSecond * perEventCores * (1 - 1e-9),
        );
        // and the event topic has a partition for each of a survivor's ingest processes
        expect(lineOf(plan, 'kafka.partitions').steady).toBeGreaterThanOrEqual(
          lineOf(plan, 'ingest.processes').evacuation,
        );
      }),
    );
  });
});
