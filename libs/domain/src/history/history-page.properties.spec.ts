import fc from 'fast-check';
import { PLAYBACK_EVENT_TYPES, PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { CompressedHistory, EMPTY_COMPRESSED_HISTORY, SessionTrail } from './compressed-history';
import { compactHistory } from './history-compaction';
import { foldHistory, visibleRecords } from './history-fold';
import {
  ChunkedCompressedHistory,
  pageOfChunkedHistory,
  RecordChunk,
  spanOfRecordChunk,
  spanOfTrailChunk,
} from './history-page';
import { HistoryCursor, HistoryPage, HistoryQuery, pageOfHistory } from './history-query';

// Enough sessions for many chunks; start times collide, so chunk ranges share their ends.
const SESSIONS = Array.from(
  { length: 16 },
  (_, i) => `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}`,
);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
const minute = (max: number) => fc.integer({ min: 0, max }).map((m) => T0 + m * MIN);

const playback = fc.record({
  type: fc.constantFrom(...PLAYBACK_EVENT_TYPES),
  playbackSessionId: fc.constantFrom(...SESSIONS),
  titleId: fc.constantFrom('title-a', 'title-b', 'title-c'),
  deviceId: fc.constantFrom('tv', 'phone'),
  positionMs: fc.integer({ min: 0, max: 60 }).map((s) => s * 30_000),
  // Coarse times: sessions often start at the same instant, across chunk boundaries.
  occurredAt: fc.integer({ min: 0, max: 12 }).map((m) => T0 + m * 5 * MIN),
  acceptDelay: fc.integer({ min: 0, max: 20 }).map((m) => m * MIN),
});
const removal = fc.record({
  type: fc.constant('record-removed' as const),
  recordId: fc.constantFrom(...SESSIONS),
  occurredAt: minute(50),
});
const clear = fc.record({ type: fc.constant('history-cleared' as const), acceptedAt: minute(70) });

const events = fc
  .tuple(
    fc.array(
      fc.oneof({ weight: 14, arbitrary: playback }, { weight: 1, arbitrary: removal }, { weight: 1, arbitrary: clear }),
      {
        maxLength: 60,
      },
    ),
    fc.uniqueArray(fc.uuid(), { minLength: 60, maxLength: 60 }),
    fc.array(fc.record({ of: fc.nat(), shift: fc.integer({ min: -20, max: 20 }) }), { maxLength: 4 }),
  )
  .map(([raw, ids, variants]) => {
    const out: ViewingEvent[] = raw.map((spec, i): ViewingEvent => {
      const base = { eventId: ids[i], profileId: 'profile-1' };
      if (spec.type === 'record-removed') return { ...base, ...spec };
      if (spec.type === 'history-cleared') return { ...base, ...spec, occurredAt: spec.acceptedAt };
      const { acceptDelay, ...rest } = spec;
      return { ...base, ...rest, acceptedAt: spec.occurredAt + acceptDelay };
    });
    // Re-stamped copies of some playback events (same eventId, other time): repeats across the split.
    const playbacks = out.filter((e): e is PlaybackEvent => 'playbackSessionId' in e);
    for (const v of playbacks.length ? variants : []) {
      const original = playbacks[v.of % playbacks.length];
      if (v.shift === 0) continue;
      out.push({ ...original, occurredAt: original.occurredAt + v.shift * MIN });
    }
    return out;
  });

/** A profile as stored: compacted once or twice, some events arriving only after (late or new). */
const stored = fc
  .tuple(
    events,
    fc.array(fc.boolean(), { minLength: 70, maxLength: 70 }),
    fc.array(minute(80), { minLength: 1, maxLength: 2 }),
    fc.option(
      fc.integer({ min: 0, max: 40 }).map((m) => m * MIN),
      { nil: undefined },
    ),
  )
  .map(([all, early, cutoffs, trailRetentionMs]) => {
    let compressed: CompressedHistory = EMPTY_COMPRESSED_HISTORY;
    let live = all.filter((_, i) => early[i % early.length]);
    for (const cutoff of cutoffs) {
      compressed = compactHistory(compressed, live, cutoff, { trailRetentionMs });
      live = live.filter((e) => e.occurredAt >= compressed.compactedBefore!);
    }
    live.push(...all.filter((_, i) => !early[i % early.length]));
    return { compressed, live };
  });

/** Cuts a compressed history into chunks as the encoder does: records in start order, trails in id order. */
function chunked(compressed: CompressedHistory, recordsPerChunk: number, trailsPerChunk: number) {
  const records = [...compressed.records].sort(
    (a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1),
  );
  const chunks: RecordChunk[] = [];
  for (let i = 0; i < records.length; i += recordsPerChunk)
    chunks.push({ records: records.slice(i, i + recordsPerChunk), removedRecordIds: [] });
  if (chunks.length === 0 || compressed.removedRecordIds.length > 2) chunks.push({ records: [], removedRecordIds: [] });
  chunks[chunks.length - 1].removedRecordIds = [...compressed.removedRecordIds];
  const trailEntries = [...(compressed.trails ?? new Map<string, SessionTrail>())].sort(([a], [b]) => (a < b ? -1 : 1));
  const trailChunks: Map<string, SessionTrail>[] = [];
  for (let i = 0; i < trailEntries.length; i += trailsPerChunk)
    trailChunks.push(new Map(trailEntries.slice(i, i + trailsPerChunk)));
  const reads = { records: 0, trails: 0 };
  const source: ChunkedCompressedHistory = {
    clearedThrough: compressed.clearedThrough,
    compactedBefore: compressed.compactedBefore,
    index: { recordChunks: chunks.map(spanOfRecordChunk), trailChunks: trailChunks.map((t) => spanOfTrailChunk(t)!) },
    recordChunk: async (i) => {
      reads.records++;
      return structuredClone(chunks[i]);
    },
    trailChunk: async (j) => {
      reads.trails++;
      return trailChunks[j];
    },
    trailChunkIds: async (j) => new Set(trailChunks[j].keys()),
  };
  return { source, reads, chunks: chunks.length };
}

const query = fc.record({
  limit: fc.integer({ min: 1, max: 5 }),
  from: fc.option(minute(60), { nil: undefined }),
  to: fc.option(minute(70), { nil: undefined }),
  titleId: fc.option(fc.constantFrom('title-a', 'title-b'), { nil: undefined }),
});

/** Every page of a walk with the cursor, from the first to the end. */
async function walk(page: (q: HistoryQuery) => Promise<HistoryPage> | HistoryPage, base: HistoryQuery) {
  const pages: HistoryPage[] = [];
  let cursor: HistoryCursor | undefined;
  do {
    const next = await page({ ...base, cursor });
    pages.push(next);
    cursor = next.nextCursor ?? undefined;
  } while (cursor && pages.length < 100);
  return pages;
}

const clean = (q: HistoryQuery): HistoryQuery =>
  Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as unknown as HistoryQuery;

describe('pageOfChunkedHistory: a page from the chunks it needs equals the page of the whole fold', () => {
  it('gives every page of a walk as the full fold does, for any live rows, chunking and query', async () => {
    await fc.assert(
      fc.asyncProperty(
        stored,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        query,
        async ({ compressed, live }, perChunk, perTrailChunk, q) => {
          const base = clean(q);
          const expected = await walk((qq) => pageOfHistory(visibleRecords(foldHistory(live, compressed)), qq), base);
          const { source } = chunked(compressed, perChunk, perTrailChunk);
          const actual = await walk((qq) => pageOfChunkedHistory(live, source, qq), base);
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads only the newest chunks for a first page when nothing live touches the compressed history', async () => {
    const records = Array.from({ length: 100 }, (_, i) => ({
      recordId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      profileId: 'profile-1',
      titleId: 'title-a',
      deviceId: 'tv',
      startedAt: T0 + i * MIN,
      lastEventAt: T0 + i * MIN + 1,
      positionMs: 0,
      maxPositionMs: 0,
      watchedMs: 0,
      state: 'stopped' as const,
      titleDurationMs: null,
      firstAcceptedAt: T0 + i * MIN,
    }));
    const compressed: CompressedHistory = {
      records,
      removedRecordIds: [],
      clearedThrough: null,
      compactedBefore: T0 + 200 * MIN,
      trails: new Map(),
    };
    const { source, reads, chunks } = chunked(compressed, 10, 10);
    const page = await pageOfChunkedHistory([], source, { limit: 15 });
    expect(page.records.map((r) => r.startedAt)).toEqual(
      records
        .slice(85)
        .reverse()
        .map((r) => r.startedAt),
    );
    expect(chunks).toBe(10);
    expect(reads.records).toBe(2);
  });
});
