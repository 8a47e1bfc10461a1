import fc from 'fast-check';
import { PlaybackEvent, settledIdFingerprint, spanOfRecordChunk, spanOfTrailChunk, ViewingRecord } from '@vh/domain';
import { decodeChunkIndex, encodeChunkIndex } from './chunk-index.codec';
import { decodeChunk, encodeChunksWithSpans, MalformedChunkError } from './history-chunk.codec';
import { decodeTrailChunk, decodeTrailChunkRecordIds, encodeTrailChunksWithSpans } from './session-trail.codec';

const T0 = Date.parse('2026-01-01T00:00:00Z');

const record = fc
  .record({
    recordId: fc.uuid().map((u) => u.toLowerCase()),
    startedAt: fc.integer({ min: 0, max: 1_000 }).map((m) => T0 + m * 60_000),
    titleId: fc.constantFrom('a', 'b'),
  })
  .map(({ recordId, startedAt, titleId }): ViewingRecord => ({
    recordId,
    profileId: 'p',
    titleId,
    deviceId: 'tv',
    startedAt,
    lastEventAt: startedAt + 1_000,
    positionMs: 10,
    maxPositionMs: 10,
    watchedMs: 5,
    state: 'stopped',
    titleDurationMs: null,
    firstAcceptedAt: startedAt + 10,
  }));

describe('chunk index', () => {
  it('round-trips the spans of any chunking, and each span describes the chunk it indexes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r) => r.recordId, maxLength: 300 }),
        fc.uniqueArray(
          fc.uuid().map((u) => u.toLowerCase()),
          { maxLength: 20 },
        ),
        fc.integer({ min: 200, max: 4_000 }),
        (records, removed, maxBytes) => {
          const { chunks, spans } = encodeChunksWithSpans({ records, removedRecordIds: removed }, maxBytes);
          expect(spans).toHaveLength(chunks.length);
          chunks.forEach((bytes, i) => expect(spanOfRecordChunk(decodeChunk('p', bytes))).toEqual(spans[i]));
          const index = { recordChunks: spans, trailChunks: [] };
          expect(decodeChunkIndex(encodeChunkIndex(index))).toEqual(index);
        },
      ),
    );
  });

  it('cuts trails in recordId order: the ranges of the chunks are sorted and never overlap', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.uuid().map((u) => u.toLowerCase()),
          { maxLength: 80 },
        ),
        fc.integer({ min: 100, max: 2_000 }),
        (ids, maxBytes) => {
          // Every other record is settled (ADR 6): its id is covered by the chunks without a trail.
          const settled = ids.filter((_, i) => i % 2 === 1);
          const trails = new Map(
            ids
              .filter((_, i) => i % 2 === 0)
              .map((id, i): [string, PlaybackEvent[]] => [
                id,
                [
                  {
                    eventId: id,
                    profileId: 'p',
                    type: 'play',
                    titleId: 't',
                    playbackSessionId: id,
                    deviceId: 'tv',
                    positionMs: i,
                    occurredAt: T0 + i,
                  },
                ],
              ]),
          );
          const { chunks, spans } = encodeTrailChunksWithSpans(
            trails,
            maxBytes,
            new Map(settled.map((id) => [id, { events: 1, acceptedSpan: 1 }])),
          );
          chunks.forEach((bytes, i) => {
            const decoded = decodeTrailChunk('p', bytes);
            const inRange = settled.filter((id) => id >= spans[i].firstRecordId && id <= spans[i].lastRecordId);
            expect(spanOfTrailChunk(decoded, inRange)).toEqual(spans[i]);
            expect(decodeTrailChunkRecordIds(bytes)).toEqual({
              trailed: new Set(decoded.keys()),
              settledFingerprints: new Set(inRange.map(settledIdFingerprint)),
            });
          });
          for (let i = 1; i < spans.length; i++) expect(spans[i - 1].lastRecordId < spans[i].firstRecordId).toBe(true);
          expect(spans.reduce((n, s) => n + s.trails, 0)).toBe(ids.length);
          const index = { recordChunks: [], trailChunks: spans };
          expect(decodeChunkIndex(encodeChunkIndex(index))).toEqual(index);
        },
      ),
    );
  });

  it('refuses bytes that are not an index', () => {
    expect(() => decodeChunkIndex(Buffer.from('VHC2xx'))).toThrow(MalformedChunkError);
    expect(() =>
      decodeChunkIndex(Buffer.concat([encodeChunkIndex({ recordChunks: [], trailChunks: [] }), Buffer.from([1])])),
    ).toThrow(MalformedChunkError);
  });
});
