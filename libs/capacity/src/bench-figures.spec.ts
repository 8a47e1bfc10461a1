import { BenchFigureError, BenchResults, benchFigures } from './bench-figures';

/** The fields the model reads, shaped as bench/results writes them. */
function results(overrides: { cassandraWrite?: number | null; storageAt?: string } = {}): BenchResults {
  return {
    'ingest.json': {
      profile: { ingestCpuMicrosPerEvent: 42.4, cassandraCpuMicrosPerEventEndToEnd: overrides.cassandraWrite ?? null },
      generatedAt: '2026-11-26T16:02:22.007Z',
    },
    'collector.json': { collectorCpuMicrosPerEvent: 54.1, generatedAt: '2026-11-24T19:32:17.339Z' },
    'mixed.json': {
      sustainable: { reads: 4000, cpu: { api: 5, cassandra: 4 } },
      generatedAt: '2026-11-24T19:32:17.339Z',
    },
    'storage.json': {
      liveBytes: 1_800_000,
      parameters: { events: 45_000, records: 10_000 },
      bytesPerRecord: { compressed: 24.55 },
      generatedAt: overrides.storageAt ?? '2026-11-24T19:32:17.339Z',
    },
    'compaction.json': { recordsPerSecond: 4143.67, parameters: { profiles: 100, records: 5000 } },
    'erasure.json': {
      collectorCpuMicrosPerEvent: { plain: 14.15, sealed: 36.5 },
      ingestDecodeCpuMicrosPerEvent: { plain: 15.77, sealed: 32.77 },
      messageBytes: { plain: 338, sealed: 617 },
    },
  };
}

describe('benchFigures', () => {
  it('cites file, field, value and date of each measured figure', () => {
    const f = benchFigures(results());
    expect(f.ingestCpuMicrosPerEvent).toEqual({
      value: 42.4,
      unit: 'µs',
      kind: 'measured',
      source: 'bench/results/ingest.json profile.ingestCpuMicrosPerEvent = 42.4 (2026-11-26)',
    });
    // 5 s of API CPU over 4,000 reads = 1,250 µs a read; 4 s of Cassandra's = 1,000 µs
    expect(f.apiCpuMicrosPerRead.value).toBe(1250);
    expect(f.cassandraCpuMicrosPerRead.value).toBe(1000);
    // sealing: 36.5 - 14.15 and 32.77 - 15.77
    expect(f.collectorSealingCpuMicrosPerEvent.value).toBe(22.35);
    expect(f.ingestSealingCpuMicrosPerEvent.value).toBe(17);
    expect(f.ingestSealingCpuMicrosPerEvent.source).toContain('date not recorded');
    // 1,800,000 B / 45,000 events = 40 B; 45,000 / 10,000 = 4.5 events a record
    expect(f.liveBytesPerEvent.value).toBe(40);
    expect(f.eventsPerRecord.value).toBe(4.5);
  });

  it("labels Cassandra's CPU per write assumed when the run did not measure it", () => {
    expect(benchFigures(results()).cassandraCpuMicrosPerWrite).toMatchObject({ value: 23, kind: 'assumed' });
    expect(benchFigures(results({ cassandraWrite: 11.5 })).cassandraCpuMicrosPerWrite).toMatchObject({
      value: 11.5,
      kind: 'measured',
    });
  });

  it('adds the trail bytes only to a storage run from before session trails', () => {
    expect(benchFigures(results()).trailBytesPerEvent).toMatchObject({ value: 22, kind: 'assumed' });
    expect(benchFigures(results({ storageAt: '2026-12-01T00:00:00.000Z' })).trailBytesPerEvent).toMatchObject({
      value: 0,
      kind: 'measured',
    });
  });

  it('fails with the file and field when one is missing', () => {
    const broken = results();
    delete broken['mixed.json'];
    expect(() => benchFigures(broken)).toThrow(new BenchFigureError('bench/results/mixed.json is missing'));
    const renamed = { ...results(), 'collector.json': { eventsPerSecond: 1 } };
    expect(() => benchFigures(renamed)).toThrow(/collector.json collectorCpuMicrosPerEvent is not a number/);
  });
});
