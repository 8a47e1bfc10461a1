import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { SettledDigest, ViewingRecord } from '@vh/domain';
import {
  decodeChunk,
  encodeChunk,
  encodeChunks,
  MalformedChunkError,
  READABLE_RECORD_ENCODINGS,
} from './history-chunk.codec';
import { loadZstd, NO_DICTIONARY, UnknownZstdDictionaryError } from './zstd';
import { LATEST_ZSTD_DICTIONARY, ZSTD_DICTIONARIES } from './zstd-dictionaries';

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
    // Acceptance runs behind or ahead of device time (clock skew, offline playback).
    acceptedAfterStart: fc.integer({ min: -86_400_000, max: 30 * 86_400_000 }),
  })
  .map(({ duration, beyond, acceptedAfterStart, ...r }) => ({
    ...r,
    profileId: 'profile-1',
    lastEventAt: r.startedAt + duration,
    maxPositionMs: r.positionMs + beyond,
    firstAcceptedAt: r.startedAt + acceptedAfterStart,
  }));

const byStart = (records: ViewingRecord[]) =>
  [...records].sort((a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1));

describe('the compressed-history chunk encoding', () => {
  it('round-trips any records and removed ids', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 50 }),
        fc.array(fc.uuid(), { maxLength: 5 }),
        (records, removed) => {
          const decoded = decodeChunk('profile-1', encodeChunk({ records, removedRecordIds: removed }));
          expect(decoded).toEqual({ records: byStart(records), removedRecordIds: removed, settledDigests: new Map() });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the digest of each settled record beside it (v3): events, last acceptance rounded up to the second', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 50 }),
        fc.array(
          fc.record({
            events: fc.integer({ min: 0, max: 5_000 }),
            after: fc.option(fc.integer({ min: 0, max: 60 * 86_400_000 }), { nil: null }),
          }),
          { minLength: 50, maxLength: 50 },
        ),
        (records, digests) => {
          const given = new Map<string, SettledDigest>(
            records
              .filter((_, i) => i % 3 !== 0)
              .map((r, i) => [
                r.recordId,
                {
                  events: digests[i].events,
                  lastAcceptedAt: digests[i].after === null ? null : r.firstAcceptedAt + digests[i].after!,
                },
              ]),
          );
          const bytes = encodeChunk({ records, removedRecordIds: [], settledDigests: given });
          const decoded = decodeChunk('profile-1', bytes);
          expect(decoded.records).toEqual(byStart(records));
          // Paged reads cache chunks without them.
          expect(decodeChunk('profile-1', bytes, { settledDigests: false })).toEqual({
            records: byStart(records),
            removedRecordIds: [],
          });
          // Unknown digests (0 events, no acceptance) are not kept: they are what a missing one means.
          const expected = new Map(
            [...given]
              .filter(([, d]) => d.events > 0 || d.lastAcceptedAt !== null)
              .map(([id, d]) => {
                const first = records.find((r) => r.recordId === id)!.firstAcceptedAt;
                const last =
                  d.lastAcceptedAt === null ? null : first + Math.ceil((d.lastAcceptedAt - first) / 1000) * 1000;
                return [id, { events: d.events, lastAcceptedAt: last }];
              }),
          );
          expect(decoded.settledDigests).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splits into chunks under the size bound that together hold everything', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 120 }),
        fc.array(fc.uuid(), { maxLength: 40 }),
        fc.integer({ min: 200, max: 3000 }),
        (records, removed, max) => {
          const chunks = encodeChunks({ records, removedRecordIds: removed }, max);
          const decoded = chunks.map((c) => decodeChunk('profile-1', c));
          for (const c of chunks)
            expect(
              c.length <= max ||
                decodeChunk('profile-1', c).records.length + decodeChunk('profile-1', c).removedRecordIds.length <= 1,
            ).toBe(true);
          expect(byStart(decoded.flatMap((d) => d.records))).toEqual(byStart(records));
          expect(decoded.flatMap((d) => d.removedRecordIds).sort()).toEqual([...removed].sort());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('splits one record and the removed ids it shares a chunk with when together they exceed the bound', () => {
    const [one] = fc.sample(record, { numRuns: 1, seed: 1 });
    for (const removed of [[randomUUID()], [randomUUID(), randomUUID()], [randomUUID(), randomUUID(), randomUUID()]]) {
      const chunks = encodeChunks({ records: [one], removedRecordIds: removed }, 1);
      const decoded = chunks.map((c) => decodeChunk('profile-1', c));
      expect(decoded.map((d) => d.records.length + d.removedRecordIds.length)).toEqual(
        Array<number>(1 + removed.length).fill(1),
      );
      expect(decoded.flatMap((d) => d.records)).toEqual([one]);
      expect(decoded.flatMap((d) => d.removedRecordIds).sort()).toEqual([...removed].sort());
    }
  });

  it('reads a chunk written in the v1 encoding (before trails): records judged by their start', () => {
    // Bytes written by the v1 encoder (commit 0dcb74c); a frozen fixture, never regenerate it.
    const v1 = Buffer.from(
      'VkhDMQICB3RpdGxlLWEHdGl0bGUtYgICdHYFcGhvbmVvHCqeAABAAIAAAAAAAAABbxwqngAAQACAAAAAAAAAAoCg1e3uZoD07gbA7m3AzyTA7m3AzyQA4KcSoOFn4PogwY23AQACAQABAAEBbxwqngAAQACAAAAAAAAAAw==',
      'base64',
    );
    expect(decodeChunk('p', v1)).toEqual({
      records: [
        {
          recordId: '6f1c2a9e-0000-4000-8000-000000000001',
          profileId: 'p',
          titleId: 'title-a',
          deviceId: 'tv',
          startedAt: 1767225600000,
          lastEventAt: 1767227400000,
          positionMs: 1800000,
          maxPositionMs: 1800000,
          watchedMs: 1700000,
          state: 'stopped',
          titleDurationMs: 3000000,
          firstAcceptedAt: 1767225600000,
        },
        {
          recordId: '6f1c2a9e-0000-4000-8000-000000000002',
          profileId: 'p',
          titleId: 'title-b',
          deviceId: 'phone',
          startedAt: 1767232800000,
          lastEventAt: 1767233400000,
          positionMs: 600000,
          maxPositionMs: 900000,
          watchedMs: 540000,
          state: 'paused',
          titleDurationMs: null,
          firstAcceptedAt: 1767232800000,
        },
      ],
      removedRecordIds: ['6f1c2a9e-0000-4000-8000-000000000003'],
    });
    expect(READABLE_RECORD_ENCODINGS).toContain('vh-columnar-v1');
  });

  it.each([
    ['an unknown format', Buffer.from('NOPE')],
    [
      'a truncated chunk',
      encodeChunk({ records: [], removedRecordIds: ['00000000-0000-4000-8000-000000000001'] }).subarray(0, 12),
    ],
    ['trailing bytes', Buffer.concat([encodeChunk({ records: [], removedRecordIds: [] }), Buffer.from([1])])],
  ])('rejects %s', (_label, bytes) => {
    expect(() => decodeChunk('p', bytes)).toThrow(MalformedChunkError);
  });

  it('compresses and decompresses through zstd, including a chunk at the largest allowed size', async () => {
    const zstd = await loadZstd();
    const records = fc
      .sample(record, 6_000)
      .map((r, i) => ({ ...r, recordId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }));
    const [big] = encodeChunks({ records, removedRecordIds: [] }, 1 << 30);
    expect(big.length).toBeGreaterThan(200_000);
    for (const level of [3, 9, 19]) {
      const compressed = zstd.compress(big, level);
      expect(compressed.length).toBeLessThan(big.length);
      expect(zstd.decompress(compressed).equals(big)).toBe(true);
    }
  });

  it('round-trips with each shipped dictionary, and a dictionary shrinks a small history', async () => {
    const zstd = await loadZstd();
    // A week of evenings: the kind of small history the dictionary was trained on.
    const records: ViewingRecord[] = Array.from({ length: 12 }, (_, i) => ({
      recordId: randomUUID(),
      profileId: 'profile-1',
      titleId: `title-${i % 5}`,
      deviceId: `device-${i % 3}`,
      startedAt: 1_770_000_000_000 + i * 1_800_000,
      lastEventAt: 1_770_000_000_000 + i * 1_800_000 + 1_500_000,
      positionMs: 1_500_000,
      maxPositionMs: 1_500_000,
      watchedMs: 1_380_000,
      state: 'stopped',
      titleDurationMs: 2_700_000,
      firstAcceptedAt: 1_770_000_000_000 + i * 1_800_000 + 2_000,
    }));
    const [small] = encodeChunks({ records, removedRecordIds: [] }, 1 << 20);
    expect(Object.keys(ZSTD_DICTIONARIES).length).toBeGreaterThan(0);
    for (const id of Object.keys(ZSTD_DICTIONARIES).map(Number)) {
      const compressed = zstd.compress(small, 9, id);
      expect(zstd.decompress(compressed, id).equals(small)).toBe(true);
    }
    const withLatest = zstd.compress(small, 9, LATEST_ZSTD_DICTIONARY);
    expect(withLatest.length).toBeLessThan(zstd.compress(small, 9, NO_DICTIONARY).length);
    // Bytes compressed with a dictionary do not decode without it.
    expect(() => zstd.decompress(withLatest, NO_DICTIONARY)).toThrow();
  });

  it('refuses a dictionary id that was never shipped', async () => {
    const zstd = await loadZstd();
    expect(() => zstd.compress(Buffer.from('x'), 9, 9_999)).toThrow(UnknownZstdDictionaryError);
    expect(() => zstd.decompress(Buffer.from('x'), 9_999)).toThrow(UnknownZstdDictionaryError);
  });
});
