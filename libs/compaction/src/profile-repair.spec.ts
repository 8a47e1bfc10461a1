import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { EMPTY_COMPRESSED_HISTORY, ViewingEvent } from '@vh/domain';
import { CompressedHistoryRepository, LiveHistoryRepository } from '@vh/storage';
import { ProfileHistoryRebuild } from './profile-repair';

const DAY = 86_400_000;

describe('ProfileHistoryRebuild', () => {
  it('keeps the stored live rows a truncated event log no longer has', async () => {
    const now = Date.now();
    const stored: ViewingEvent = {
      type: 'play',
      eventId: randomUUID(),
      profileId: 'p',
      playbackSessionId: randomUUID(),
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: now - 30 * DAY,
    };
    const live = {
      readProfile: async () => ({ events: [stored], rowsRead: [], newestWriteTimeUs: now * 1000 }),
      append: async () => [],
      deleteBefore: async () => undefined,
    } as unknown as LiveHistoryRepository;
    const compressed = {
      readVersion: async () => null,
      writeChunkSet: async (_profileId: string, chunks: Buffer[]) => ({
        chunkSet: randomUUID(),
        checksums: chunks.map(() => 'x'),
        storedBytes: chunks.reduce((n, c) => n + c.length, 0),
      }),
      switchVersion: async () => true,
      markSuperseded: async () => undefined,
      read: async () => ({ version: null, history: EMPTY_COMPRESSED_HISTORY }),
    } as unknown as CompressedHistoryRepository;
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    // The log's oldest messages are gone: it has none of this profile's events.
    const rebuilt = await new ProfileHistoryRebuild(live, compressed, config).rebuild('p', [], now);
    expect(rebuilt.records).toBe(1);
  });
});
