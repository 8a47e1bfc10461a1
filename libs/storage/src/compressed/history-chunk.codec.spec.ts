import fc from 'fast-check';
import { ViewingRecord } from '@vh/domain';
import { decodeChunk, encodeChunk, encodeChunks, MalformedChunkError } from './history-chunk.codec';
import { loadZstd } from './zstd';

const record: fc.Arbitrary<ViewingRecord> = fc
  .record({
    recordId: fc.uuid(),
    titleId: fc.constantFrom('t1', 'title:80057281', 'ñandú-ü'),
    deviceId: fc.constantFrom('tv', 'phone', 'x'.repeat(64)),
    startedAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
    duration: fc.integer({ min: 0, max: 10 * 86_400_000 }),
    positionMs: fc.integer({ min: 0, max: 172_800_000 }),
    beyond: fc.integer({ min: 0, max: 172_800_000 }),
    watchedMs: fc.integer({ min: 0, max: 172_800_000 }),
    state: fc.constantFrom('playing' as const, 'paused' as const, 'stopped' as const),
    titleDurationMs: fc.option(fc.integer({ min: 1, max: 172_800_000 }), { nil: null }),
  })
  .map(({ duration, beyond, ...r }) => ({
    ...r,
    profileId: 'profile-1',
    lastEventAt: r.startedAt + duration,
    maxPositionMs: r.positionMs + beyond,
  }));

const byStart = (records: ViewingRecord[]) => [...records].sort((a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1));

describe('the compressed-history chunk encoding', () => {
  it('round-trips any records and removed ids', () => {
    fc.assert(
      fc.property(fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 50 }), fc.array(fc.uuid(), { maxLength: 5 }), (records, removed) => {
        const decoded = decodeChunk('profile-1', encodeChunk({ records, removedRecordIds: removed }));
        expect(decoded).toEqual({ records: byStart(records), removedRecordIds: removed });
      }),
      { numRuns: 300 },
    );
  });

  it('splits into chunks under the size bound that together hold everything', () => {
    fc.assert(
      fc.property(fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 120 }), fc.array(fc.uuid(), { maxLength: 40 }), fc.integer({ min: 200, max: 3000 }), (records, removed, max) => {
        const chunks = encodeChunks({ records, removedRecordIds: removed }, max);
        const decoded = chunks.map((c) => decodeChunk('profile-1', c));
        for (const c of chunks) expect(c.length <= max || decodeChunk('profile-1', c).records.length + decodeChunk('profile-1', c).removedRecordIds.length <= 1).toBe(true);
        expect(byStart(decoded.flatMap((d) => d.records))).toEqual(byStart(records));
        expect(decoded.flatMap((d) => d.removedRecordIds).sort()).toEqual([...removed].sort());
      }),
      { numRuns: 100 },
    );
  });

  it.each([
    ['an unknown format', Buffer.from('NOPE')],
    ['a truncated chunk', encodeChunk({ records: [], removedRecordIds: ['00000000-0000-4000-8000-000000000001'] }).subarray(0, 12)],
    ['trailing bytes', Buffer.concat([encodeChunk({ records: [], removedRecordIds: [] }), Buffer.from([1])])],
  ])('rejects %s', (_label, bytes) => {
    expect(() => decodeChunk('p', bytes)).toThrow(MalformedChunkError);
  });

  it('compresses and decompresses through zstd, including a chunk at the largest allowed size', async () => {
    const zstd = await loadZstd();
    const records = fc.sample(record, 6_000).map((r, i) => ({ ...r, recordId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }));
    const [big] = encodeChunks({ records, removedRecordIds: [] }, 1 << 30);
    expect(big.length).toBeGreaterThan(200_000);
    for (const level of [3, 9, 19]) {
      const compressed = zstd.compress(big, level);
      expect(compressed.length).toBeLessThan(big.length);
      expect(zstd.decompress(compressed).equals(big)).toBe(true);
    }
  });
});
