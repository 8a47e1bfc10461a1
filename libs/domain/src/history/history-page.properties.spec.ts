import fc from 'fast-check';
import { ViewingEvent } from '../events/viewing-event';
import { DAY, MIN, profileEvents, sessionIds, shiftOf, steps } from '../testing/history.arbitraries';
import { CompressedHistory, EMPTY_COMPRESSED_HISTORY, SessionTrail } from './compressed-history';
import { compactHistory } from './history-compaction';
import { settledIdFingerprint, settledSessionsTouched, withTrailsFromEventLog } from './settled-sessions';
import { foldHistory, visibleRecords } from './history-fold';
import {
  changedRecordsOfChunked,
  ChunkedCompressedHistory,
  continueWatchingOfChunked,
  pageOfChunkedHistory,
  RecordChunk,
  spanOfRecordChunk,
  spanOfTrailChunk,
} from './history-page';
import {
  changedRecords,
  continueWatching,
  HistoryCursor,
  HistoryPage,
  HistoryQuery,
  pageOfHistory,
} from './history-query';
import { ViewingRecord } from './viewing-record';
import { EMPTY_MEMBER_CONTROLS, MemberControls, withControlEvents } from '../settings/member-controls';

// Enough sessions for many chunks; start times collide, so chunk ranges share their ends.
const SESSIONS = sessionIds(16);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const minute = (max: number) => steps(T0, max, MIN);

const pools = { sessions: SESSIONS, titles: ['title-a', 'title-b', 'title-c'], maxEvents: 60, maxVariants: 4 };
const events = profileEvents({
  ...pools,
  // Coarse times: sessions often start at the same instant, across chunk boundaries.
  playbackAt: steps(T0, 12, 5 * MIN),
  acceptDelay: steps(0, 20, MIN),
  removalAt: minute(50),
  clearAt: minute(70),
  variantShift: shiftOf(20, MIN),
});

/**
 * With the member's controls, on a scale of days so that auto-delete (3 months and more) hides some
 * records and not others; deliveries up to 3 weeks late.
 */
const tenDays = steps(T0, 40, 10 * DAY);
const eventsWithControls = profileEvents({
  ...pools,
  playbackAt: steps(T0, 24, 15 * DAY),
  acceptDelay: steps(0, 21, DAY),
  removalAt: tenDays,
  clearAt: tenDays,
  controlAt: tenDays,
  variantShift: shiftOf(5, DAY),
});

/**
 * A profile as stored: compacted once or twice (run 14 units after its cutoff, as COMPACTION_MIN_AGE_MS,
 * judging auto-delete then), some events arriving only after (late or new); trails kept 0 to 40 units.
 */
const storedFrom = (all: fc.Arbitrary<ViewingEvent[]>, cutoffAt: fc.Arbitrary<number>, unit: number) =>
  fc
    .tuple(
      all,
      fc.array(fc.boolean(), { minLength: 70, maxLength: 70 }),
      fc.array(cutoffAt, { minLength: 1, maxLength: 2 }),
      fc.option(
        fc.integer({ min: 0, max: 40 }).map((m) => m * unit),
        { nil: undefined },
      ),
    )
    .map(([all, early, cutoffs, settleAge]) => {
      let compressed: CompressedHistory = EMPTY_COMPRESSED_HISTORY;
      let live = all.filter((_, i) => early[i % early.length]);
      for (const cutoff of cutoffs) {
        const settleBefore = settleAge === undefined ? undefined : cutoff - settleAge;
        // As the compactor does: settled records that live events touch get their trails from the log.
        compressed = withTrailsFromEventLog(compressed, all, settledSessionsTouched(compressed, live));
        compressed = compactHistory(compressed, live, cutoff, { settleBefore, now: cutoff + 14 * unit });
        live = live.filter((e) => e.occurredAt >= compressed.compactedBefore!);
      }
      live.push(...all.filter((_, i) => !early[i % early.length]));
      return { compressed, live };
    });

const stored = storedFrom(events, minute(80), MIN);
const storedWithControls = storedFrom(eventsWithControls, tenDays, DAY);

/**
 * Cuts a compressed history into chunks as the encoder does: records in start order, trails in id order. The
 * trail chunks keep fingerprints of the settled records only where there is more than one record chunk (ADR 6,
 * amendment of 2026-11-27); `fingerprints: true` keeps them always, as versions written before did.
 */
function chunked(
  compressed: CompressedHistory,
  recordsPerChunk: number,
  trailsPerChunk: number,
  options: { fingerprints?: boolean } = {},
) {
  const records = [...compressed.records].sort(
    (a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1),
  );
  const chunks: RecordChunk[] = [];
  for (let i = 0; i < records.length; i += recordsPerChunk)
    chunks.push({ records: records.slice(i, i + recordsPerChunk), removedRecordIds: [] });
  if (chunks.length === 0 || compressed.removedRecordIds.length > 2) chunks.push({ records: [], removedRecordIds: [] });
  chunks[chunks.length - 1].removedRecordIds = [...compressed.removedRecordIds];
  // Every record is covered by a trail chunk: its trail, or (settled) its id alone; with one record chunk, only
  // the records with a trail.
  const trails = compressed.trails ?? new Map<string, SessionTrail>();
  const fingerprints = options.fingerprints === true || chunks.length > 1;
  const covered = compressed.records
    .map((r) => r.recordId)
    .filter((id) => fingerprints || trails.has(id))
    .sort();
  const trailChunks: { trails: Map<string, SessionTrail>; settled: string[] }[] = [];
  for (let i = 0; i < covered.length; i += trailsPerChunk) {
    const ids = covered.slice(i, i + trailsPerChunk);
    trailChunks.push({
      trails: new Map(ids.filter((id) => trails.has(id)).map((id) => [id, trails.get(id)!])),
      settled: ids.filter((id) => !trails.has(id)),
    });
  }
  const reads = { records: 0, trails: 0 };
  const source: ChunkedCompressedHistory = {
    clearedThrough: compressed.clearedThrough,
    compactedBefore: compressed.compactedBefore,
    controls: compressed.controls,
    index: {
      recordChunks: chunks.map(spanOfRecordChunk),
      trailChunks: trailChunks.map((t) => spanOfTrailChunk(t.trails, t.settled)!),
    },
    recordChunk: async (i) => {
      reads.records++;
      return structuredClone(chunks[i]);
    },
    trailChunk: async (j) => {
      reads.trails++;
      return trailChunks[j].trails;
    },
    trailChunkIds: async (j) => ({
      trailed: new Set(trailChunks[j].trails.keys()),
      settledFingerprints: new Set(trailChunks[j].settled.map(settledIdFingerprint)),
    }),
  };
  return { source, reads, chunks: chunks.length };
}

/** Records per chunk: often several chunks, sometimes one (most profiles: no settled fingerprints then). */
const recordsPerChunk = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(1_000));

/** Queries whose time filters fall among the generated instants. */
const queryWithin = (from: fc.Arbitrary<number>, to: fc.Arbitrary<number>) =>
  fc.record({
    limit: fc.integer({ min: 1, max: 5 }),
    from: fc.option(from, { nil: undefined }),
    to: fc.option(to, { nil: undefined }),
    titleId: fc.option(fc.constantFrom('title-a', 'title-b'), { nil: undefined }),
    changedSince: fc.option(from, { nil: undefined }),
  });
const query = queryWithin(minute(60), minute(70));

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

/**
 * A stored profile with controls, chunked, read at some instant (before, among and long after the events),
 * with what the whole fold shows then.
 */
const withControls = fc
  .tuple(storedWithControls, recordsPerChunk, fc.integer({ min: 1, max: 4 }), steps(T0, 80, 10 * DAY))
  .map(([{ compressed, live }, perChunk, perTrailChunk, now]) => ({
    live,
    now,
    whole: visibleRecords(foldHistory(live, compressed), now),
    source: chunked(compressed, perChunk, perTrailChunk).source,
  }));

/** 100 stored records, one a minute, nothing live. */
function hundredRecords(controls?: MemberControls) {
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
    controls,
  };
  return { records, compressed };
}

describe('pageOfChunkedHistory: a page from the chunks it needs equals the page of the whole fold', () => {
  it('gives every page of a walk as the full fold does, for any live rows, chunking and query', async () => {
    await fc.assert(
      fc.asyncProperty(
        stored,
        recordsPerChunk,
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

  it('reads a one-record-chunk version that still keeps settled fingerprints (v2) by id as the full fold does', async () => {
    await fc.assert(
      fc.asyncProperty(
        stored,
        fc.integer({ min: 1, max: 4 }),
        query,
        async ({ compressed, live }, perTrailChunk, q) => {
          const base = clean(q);
          const expected = await walk((qq) => pageOfHistory(visibleRecords(foldHistory(live, compressed)), qq), base);
          const { source, chunks } = chunked(compressed, 1_000, perTrailChunk, { fingerprints: true });
          // Many removals add an empty record chunk: the many-chunk path, covered above.
          fc.pre(chunks === 1);
          const actual = await walk((qq) => pageOfChunkedHistory(live, source, qq), base);
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('applies the member controls as the whole fold does: pauses, auto-delete, titles removed, clears, late events', async () => {
    const at = steps(T0, 36, 10 * DAY);
    await fc.assert(
      fc.asyncProperty(withControls, queryWithin(at, at), async ({ live, whole, source, now }, q) => {
        const base = clean(q);
        const expected = await walk((qq) => pageOfHistory(whole, qq), base);
        const actual = await walk((qq) => pageOfChunkedHistory(live, source, qq, { now }), base);
        expect(actual).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('gives continue-watching as the whole fold does, reading chunk by chunk', async () => {
    await fc.assert(
      fc.asyncProperty(withControls, fc.integer({ min: 1, max: 5 }), async ({ live, whole, source, now }, limit) => {
        expect(await continueWatchingOfChunked(live, source, limit, { now })).toEqual(continueWatching(whole, limit));
      }),
      { numRuns: 300 },
    );
  });

  it("gives a profile's changed records in batches, oldest change first, as the whole fold does (the export)", async () => {
    await fc.assert(
      fc.asyncProperty(
        withControls,
        fc.integer({ min: 1, max: 5 }),
        tenDays,
        async ({ live, whole, source, now }, limit, since) => {
          const expected = changedRecords(whole, { since, limit: Number.POSITIVE_INFINITY });
          const actual: ViewingRecord[] = [];
          for (let batch = 0; batch < 100; batch++) {
            const next = await changedRecordsOfChunked(live, source, { since, limit, after: actual.at(-1) }, { now });
            actual.push(...next);
            if (next.length < limit) break;
          }
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads only the newest chunks for a first page when nothing live touches the compressed history', async () => {
    const { records, compressed } = hundredRecords();
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

  it('with one record chunk and no settled fingerprints, finds live sessions by id in it: no trail chunk read for a new one', async () => {
    const { records, compressed } = hundredRecords();
    // The newest record keeps its trail; the others are settled.
    const trailed = records[99];
    const trail: SessionTrail = [
      {
        eventId: 'e-99',
        profileId: 'profile-1',
        type: 'stop',
        titleId: 'title-a',
        playbackSessionId: trailed.recordId,
        deviceId: 'tv',
        positionMs: 0,
        occurredAt: trailed.startedAt,
        acceptedAt: trailed.firstAcceptedAt,
      },
    ];
    const stored: CompressedHistory = { ...compressed, trails: new Map([[trailed.recordId, trail]]) };
    const { source, reads } = chunked(stored, 1_000, 10);
    expect(source.index.trailChunks).toHaveLength(1);
    const newSession = {
      ...trail[0],
      eventId: 'e-new',
      type: 'play' as const,
      playbackSessionId: 'ffffffff-0000-4000-8000-000000000000',
    };
    const live = [{ ...newSession, occurredAt: T0 + 300 * MIN, acceptedAt: T0 + 300 * MIN }];
    const whole = async (events: ViewingEvent[]) =>
      pageOfHistory(visibleRecords(foldHistory(events, stored)), { limit: 5 });
    expect(await pageOfChunkedHistory(live, source, { limit: 5 })).toEqual(await whole(live));
    expect(reads.trails).toBe(0);
    // A live event of the trailed record: its trail, found by id.
    const again = [
      ...live,
      { ...trail[0], eventId: 'e-99b', type: 'play' as const, occurredAt: trailed.startedAt + 1 },
    ];
    expect(await pageOfChunkedHistory(again, source, { limit: 5 })).toEqual(await whole(again));
    expect(reads.trails).toBe(1);
    // A late event of a settled record: the whole history serves the read (and asks for its rebuild).
    const settled = records[98];
    const late = [
      ...live,
      { ...newSession, eventId: 'e-98', playbackSessionId: settled.recordId, occurredAt: settled.startedAt + 5 },
    ];
    let asked = 0;
    expect(await pageOfChunkedHistory(late, source, { limit: 5 }, { onCompactionDue: () => asked++ })).toEqual(
      await whole(late),
    );
    expect(asked).toBe(1);
  });

  it('with one record chunk, reads a trail chunk once however many live sessions touch its trailed records', async () => {
    const { records, compressed } = hundredRecords();
    // The five newest records keep their trails, in one trail chunk; the others are settled.
    const trailed = records.slice(95);
    const eventOf = (r: ViewingRecord) => ({
      eventId: `e-${r.recordId}`,
      profileId: 'profile-1',
      type: 'stop' as const,
      titleId: 'title-a',
      playbackSessionId: r.recordId,
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: r.startedAt,
      acceptedAt: r.firstAcceptedAt,
    });
    const stored: CompressedHistory = {
      ...compressed,
      trails: new Map(trailed.map((r): [string, SessionTrail] => [r.recordId, [eventOf(r)]])),
    };
    const { source, reads } = chunked(stored, 1_000, 10);
    expect(source.index.trailChunks).toHaveLength(1);
    const live = trailed.map((r) => ({
      ...eventOf(r),
      eventId: `late-${r.recordId}`,
      type: 'play' as const,
      occurredAt: r.startedAt + 1,
    }));
    expect(await pageOfChunkedHistory(live, source, { limit: 5 })).toEqual(
      pageOfHistory(visibleRecords(foldHistory(live, stored)), { limit: 5 }),
    );
    expect(reads.trails).toBe(1);
  });

  it('asks once for a compaction when a record read is one the controls now hide for good, and only then', async () => {
    // Auto-delete after 3 months, set at T0: the records are older than that a year later.
    const controls = withControlEvents(EMPTY_MEMBER_CONTROLS, [{ eventId: 'e', acceptedAt: T0, autoDelete: '3m' }]);
    const { source } = chunked(hundredRecords(controls).compressed, 10, 10);
    const asked: number[] = [];
    const onCompactionDue = () => asked.push(1);
    const now = T0 + 365 * DAY;
    expect(await pageOfChunkedHistory([], source, { limit: 15 }, { now, onCompactionDue })).toEqual({
      records: [],
      nextCursor: null,
    });
    expect(asked).toHaveLength(1);
    await pageOfChunkedHistory([], source, { limit: 15 }, { now: T0 + DAY, onCompactionDue });
    await continueWatchingOfChunked([], source, 15, { now: T0 + DAY, onCompactionDue });
    expect(asked).toHaveLength(1);
    // Deleted since a compaction's cutoff: it would keep them as hidden records, so no run is asked for.
    const soon = T0 + 100 * DAY;
    await pageOfChunkedHistory(
      [],
      source,
      { limit: 15 },
      { now: soon, compactionCutoff: soon - 14 * DAY, onCompactionDue },
    );
    expect(asked).toHaveLength(1);
    await pageOfChunkedHistory([], source, { limit: 15 }, { now, compactionCutoff: now - 14 * DAY, onCompactionDue });
    expect(asked).toHaveLength(2);
  });
});
