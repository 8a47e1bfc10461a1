import fc from 'fast-check';
import {
  CompactedHistory,
  compactHistory,
  CompressedHistory,
  EMPTY_COMPRESSED_HISTORY,
  foldHistory,
  PlaybackEvent,
  SettledDigest,
  settledIdFingerprint,
  settledSessionsTouched,
  ViewingRecord,
  visibleRecords,
  withTrailsFromEventLog,
} from '@vh/domain';
import { DAY, MIN, profileEvents, sessionIds, shiftOf, steps } from '@vh/domain/testing/history.arbitraries';
import { decodeChunkIndex, decodeVersionChunks, encodeChunkIndex, loadZstd, RECORD_ENCODING } from '@vh/storage';
import { encodeVersion } from './compressed-version.encoding';
import v2Version from './testing/version-v2.fixture.json';

const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A version's stored chunks back as the history compaction reads (what the repository decodes). */
async function decoded(stored: Buffer[], recordChunks: number, dictionaryId: number, profileId = 'profile-1') {
  const zstd = await loadZstd();
  return decodeVersionChunks(
    profileId,
    stored.map((chunk) => zstd.decompress(chunk, dictionaryId)),
    recordChunks,
  );
}

const byStart = (records: readonly ViewingRecord[]) =>
  [...records].sort((a, b) => a.startedAt - b.startedAt || (a.recordId < b.recordId ? -1 : 1));

/** What a digest reads back as: the last acceptance rounded up to the second after the first; unknown ones absent. */
function asStored(history: CompactedHistory): Map<string, SettledDigest> {
  const stored = new Map<string, SettledDigest>();
  for (const r of history.records) {
    if (history.trails.has(r.recordId)) continue;
    const d = history.settledDigests.get(r.recordId);
    if (d === undefined || (d.events === 0 && d.lastAcceptedAt === null)) continue;
    const last =
      d.lastAcceptedAt === null
        ? null
        : r.firstAcceptedAt + Math.max(0, Math.ceil((d.lastAcceptedAt - r.firstAcceptedAt) / 1000)) * 1000;
    stored.set(r.recordId, { events: d.events, lastAcceptedAt: last });
  }
  return stored;
}

/**
 * v2 keeps settled digests under a 32-bit fingerprint of the record id, and two ids with one fingerprint keep the
 * weaker check of the two (session-trail.codec's addSettled): each digest read back is the stored one or weaker
 * (fewer events, a later or unknown last acceptance), never stronger; exact where no fingerprint is shared. The
 * arbitraries' session ids all share one fingerprint (their first 8 hex digits are zeros).
 */
function expectStoredOrWeaker(back: ReadonlyMap<string, SettledDigest>, history: CompactedHistory): void {
  const stored = asStored(history);
  const fingerprints = history.records
    .filter((r) => !history.trails.has(r.recordId))
    .map((r) => settledIdFingerprint(r.recordId));
  if (new Set(fingerprints).size === fingerprints.length) return void expect(back).toEqual(stored);
  for (const [id, digest] of back) {
    const expected = stored.get(id);
    expect(expected).toBeDefined(); // a merge with an unknown digest is unknown: left out, not invented
    expect(digest.events).toBeLessThanOrEqual(expected!.events);
    if (expected!.lastAcceptedAt === null) expect(digest.lastAcceptedAt).toBeNull();
    else if (digest.lastAcceptedAt !== null)
      expect(digest.lastAcceptedAt).toBeGreaterThanOrEqual(expected!.lastAcceptedAt);
  }
}

const SESSIONS = sessionIds(12);
const events = profileEvents({
  sessions: SESSIONS,
  titles: ['title-a', 'title-b'],
  maxEvents: 40,
  maxVariants: 3,
  playbackAt: steps(T0, 20, 5 * MIN),
  // Acceptance up to ~3 days after the event, in odd milliseconds (rounding of the digest's last acceptance).
  acceptDelay: fc.integer({ min: 0, max: 3 * DAY }),
  removalAt: steps(T0, 30, 5 * MIN),
  clearAt: steps(T0, 40, 5 * MIN),
  variantShift: shiftOf(10, MIN),
});

/** The history the frozen v2 fixture holds, and the settings it was written with. */
function fixtureHistory() {
  const expected = v2Version.expected;
  const history: CompactedHistory = {
    records: expected.records as ViewingRecord[],
    removedRecordIds: [],
    clearedThrough: null,
    compactedBefore: null,
    trails: new Map(expected.trails as [string, PlaybackEvent[]][]),
    settledDigests: new Map(expected.settledDigests as [string, SettledDigest][]),
    lateEvents: 0,
    settled: 2,
    changed: true,
  };
  const settings = { chunkMaxBytes: 256 * 1024, zstdLevel: 9, dictionaryId: v2Version.dictionaryId };
  return { expected, history, settings };
}

describe('the compressed version encoding (records, trails, settled digests)', () => {
  it('reads a version as the build before wrote it: v2 record chunk, settled digests by fingerprint in a VHT3 trail chunk', async () => {
    const stored = v2Version.chunks.map((c) => Buffer.from(c, 'base64'));
    const history = await decoded(stored, v2Version.recordChunks, v2Version.dictionaryId, 'profile-v2');
    expect(v2Version.recordEncoding).toBe('vh-columnar-v2');
    expect(history.records).toEqual(v2Version.expected.records);
    expect([...history.trails]).toEqual(v2Version.expected.trails);
    expect([...history.settledDigests]).toEqual(v2Version.expected.settledDigests);
    expect(decodeChunkIndex(Buffer.from(v2Version.chunkIndex, 'base64')).trailChunks).toHaveLength(1);
  });

  it('writes that history in the current encoding: one chunk, the digests beside their records, no fingerprints', async () => {
    const { expected, history, settings } = fixtureHistory();
    const encoded = await encodeVersion(history, settings);
    expect(RECORD_ENCODING).toBe('vh-columnar-v3');
    // A record chunk and the trail chunk of the one trailed record, which covers it alone.
    expect(encoded.stored).toHaveLength(2);
    expect(encoded.index.trailChunks).toEqual([expect.objectContaining({ trails: 1 })]);
    const back = await decoded(encoded.stored, encoded.recordChunks, v2Version.dictionaryId, 'profile-v2');
    expect(back.records).toEqual(expected.records);
    expect([...back.trails]).toEqual(expected.trails);
    expect([...back.settledDigests].sort()).toEqual([...expected.settledDigests].sort());
    // Settled alone: no trail chunk at all.
    const settledOnly = await encodeVersion({ ...history, trails: new Map() }, settings);
    expect(settledOnly.stored).toHaveLength(1);
    expect(settledOnly.index.trailChunks).toEqual([]);
  });

  it('still writes the previous layout on demand (a rolling upgrade), byte for byte as the build before did', async () => {
    const { history, settings } = fixtureHistory();
    const encoded = await encodeVersion(history, { ...settings, recordEncoding: 'vh-columnar-v2' });
    expect(encoded.recordEncoding).toBe('vh-columnar-v2');
    expect(encoded.stored.map((c) => c.toString('base64'))).toEqual(v2Version.chunks);
    expect(encodeChunkIndex(encoded.index).toString('base64')).toBe(v2Version.chunkIndex);
  });

  it('round-trips any compacted history, settled and unsettled records, in one chunk or many', async () => {
    const zstd = await loadZstd();
    await fc.assert(
      fc.asyncProperty(
        events,
        steps(T0, 40, 5 * MIN),
        fc.option(steps(T0, 40, 5 * MIN), { nil: undefined }),
        // Up to 200 bytes: several record chunks wherever there are several records (the many-chunk path, down to
        // one record a chunk); 256 KiB: one.
        fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constant(256 * 1024)),
        fc.constantFrom('vh-columnar-v2' as const, 'vh-columnar-v3' as const),
        async (all, cutoff, settleBefore, chunkMaxBytes, recordEncoding) => {
          const history = compactHistory(EMPTY_COMPRESSED_HISTORY, all, cutoff, { settleBefore });
          const settings = { chunkMaxBytes, zstdLevel: 1, dictionaryId: 0, recordEncoding };
          const encoded = await encodeVersion(history, settings);
          const back = decodeVersionChunks(
            'profile-1',
            encoded.stored.map((c) => zstd.decompress(c)),
            encoded.recordChunks,
          );
          expect(byStart(back.records)).toEqual(byStart(history.records));
          expect([...back.removedRecordIds].sort()).toEqual([...history.removedRecordIds].sort());
          expect(new Map(back.trails)).toEqual(new Map(history.trails));
          if (recordEncoding === 'vh-columnar-v2') expectStoredOrWeaker(back.settledDigests, history);
          else expect(back.settledDigests).toEqual(asStored(history));
          // Trail chunks cover every record where there is more than one record chunk (paged reads need them).
          const covered = encoded.index.trailChunks.reduce((n, s) => n + s.trails, 0);
          if (encoded.recordChunks > 1 || recordEncoding === 'vh-columnar-v2')
            expect(covered).toBe(history.records.length);
          else expect(covered).toBe(history.trails.size);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('merges late events after a settle exactly once, from the decoded version as from the one it encoded', async () => {
    const zstd = await loadZstd();
    await fc.assert(
      fc.asyncProperty(
        events,
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        steps(T0, 30, 5 * MIN),
        // Several record chunks wherever there are several records: the many-chunk path (fingerprints in trail chunks).
        fc.integer({ min: 1, max: 200 }),
        async (all, early, cutoff, chunkMaxBytes) => {
          // Everything accepted before the first compaction is settled by it.
          const first = all.filter((_, i) => early[i % early.length]);
          const history = compactHistory(EMPTY_COMPRESSED_HISTORY, first, cutoff, { settleBefore: T0 + 10 * DAY });
          const encoded = await encodeVersion(history, { chunkMaxBytes, zstdLevel: 1, dictionaryId: 0 });
          const back = decodeVersionChunks(
            'profile-1',
            encoded.stored.map((c) => zstd.decompress(c)),
            encoded.recordChunks,
          );
          const read: CompressedHistory = { ...history, ...back };
          // The rest arrives late; settled records it touches are rebuilt from the log (all events), as the compactor does.
          const late = [
            ...first.filter((e) => e.occurredAt >= history.compactedBefore!),
            ...all.filter((_, i) => !early[i % early.length]),
          ];
          const again = (stored: CompressedHistory) =>
            compactHistory(
              withTrailsFromEventLog(stored, all, settledSessionsTouched(stored, late)),
              late,
              cutoff + 60 * MIN,
            );
          const fromDecoded = again(read);
          const fromEncoded = again(history);
          expect(byStart(fromDecoded.records)).toEqual(byStart(fromEncoded.records));
          expect(new Map(fromDecoded.trails)).toEqual(new Map(fromEncoded.trails));
          // Each accepted event counted once: readers see what the fold of every event shows.
          const stillLive = late.filter((e) => e.occurredAt >= fromDecoded.compactedBefore!);
          expect(byStart(visibleRecords(foldHistory(stillLive, fromDecoded)))).toEqual(
            byStart(visibleRecords(foldHistory(all, EMPTY_COMPRESSED_HISTORY))),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
