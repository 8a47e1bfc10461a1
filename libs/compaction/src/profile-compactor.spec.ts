import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { compactHistory, EMPTY_COMPRESSED_HISTORY, ViewingEvent } from '@vh/domain';
import { CompressedHistoryCompactionStore, CompressedHistoryVersion, LiveHistoryCompactionStore } from '@vh/storage';
import { ProfileCompactor } from './profile-compactor';

const DAY = 86_400_000;

/** In-memory fakes of the two repositories: only what the compactor calls. */
function fakes(events: ViewingEvent[]) {
  const switched: CompressedHistoryVersion[] = [];
  const live: LiveHistoryCompactionStore = {
    readProfile: async () => ({ events, rowsRead: [], newestWriteTimeUs: Date.now() * 1000 }),
    deleteBefore: async () => undefined,
  };
  const compressed: CompressedHistoryCompactionStore = {
    read: async () => ({ version: null, history: EMPTY_COMPRESSED_HISTORY }),
    collectGarbage: async () => ({ removed: 0, waiting: 0 }),
    writeChunkSet: async (_profileId: string, chunks: Buffer[]) => ({
      chunkSet: randomUUID(),
      checksums: chunks.map(() => 'x'),
      storedBytes: chunks.reduce((n, c) => n + c.length, 0),
    }),
    switchVersion: async (_expected: number | null, next: CompressedHistoryVersion) => {
      switched.push(next);
      return true;
    },
    deleteChunkSet: async () => undefined,
    markSuperseded: async () => undefined,
  };
  return { live, compressed, switched };
}

describe('ProfileCompactor', () => {
  it('compacts a profile of 200,000 records (no spread of the records into Math.min/max)', async () => {
    const now = Date.now();
    const first = now - 400 * DAY;
    const events: ViewingEvent[] = Array.from({ length: 200_000 }, (_, i) => ({
      type: 'play',
      eventId: randomUUID(),
      profileId: 'huge',
      playbackSessionId: randomUUID(),
      titleId: `title-${i % 500}`,
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: first + i * 60_000,
    }));
    const { live, compressed, switched } = fakes(events);
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const outcome = await new ProfileCompactor(live, compressed, config).compact('huge', { now });
    expect(outcome).toMatchObject({ status: 'compacted', records: 200_000 });
    expect(switched[0]).toMatchObject({
      recordCount: 200_000,
      firstStartedAt: first,
      lastEventAt: first + 199_999 * 60_000,
    });
  }, 120_000);

  it('writes a version for a late removal instead of deleting it as a left-over row (invariant 3)', async () => {
    const now = Date.now();
    const session = randomUUID();
    const play: ViewingEvent = {
      type: 'play',
      eventId: randomUUID(),
      profileId: 'p',
      playbackSessionId: session,
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: now - 30 * DAY,
    };
    const history = compactHistory(EMPTY_COMPRESSED_HISTORY, [play], now - 20 * DAY);
    // Late: its occurredAt is before compactedBefore, and no live event is in a newly compacted range.
    const removal: ViewingEvent = {
      type: 'record-removed',
      eventId: randomUUID(),
      profileId: 'p',
      recordId: session,
      occurredAt: now - 25 * DAY,
    };
    const { live, compressed, switched } = fakes([removal]);
    const current = { version: 1, chunkSet: randomUUID(), chunkCount: 1, trailChunkCount: 1 };
    compressed.read = async () => ({ version: current, history }) as never;
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const outcome = await new ProfileCompactor(live, compressed, config).compact('p', { now: now - 20 * DAY });
    expect(outcome.status).toBe('compacted');
    expect(switched[0]).toMatchObject({ recordCount: 0 });
  });
});
