import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { foldHistory, ViewingEvent, visibleRecords } from '@vh/domain';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import { ProfileHistoryRebuild } from './profile-repair';
import { inMemoryHistoryStores } from './testing/in-memory-history-stores';
import { AppendOptions } from '@vh/storage';

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
    const { live, compressed } = inMemoryHistoryStores([stored]);
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    // The log's oldest messages are gone: it has none of this profile's events.
    const rebuilt = await new ProfileHistoryRebuild(live, compressed, config).rebuild('p', [], now);
    expect(rebuilt.records).toBe(1);
  });

  it('keeps the variant the fold keeps when the log and a stored row hold copies accepted around a clear (invariant 1)', async () => {
    const now = Date.now();
    const clearAt = now - 20 * DAY;
    const play = (occurredAt: number, acceptedAt: number): ViewingEvent => ({
      type: 'play',
      eventId: 'e1',
      profileId: 'p',
      playbackSessionId: 's1',
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt,
      acceptedAt,
    });
    const clear: ViewingEvent = {
      type: 'history-cleared',
      eventId: 'c1',
      profileId: 'p',
      occurredAt: clearAt,
      acceptedAt: clearAt,
    };
    // The same event twice: the log's copy accepted after the clear, the stored row's before it. The fold keeps
    // the earliest acceptance, so the record is cleared; keeping the log's copy first would show it again.
    for (const occurredAt of [now - 30 * DAY, now - 1000]) {
      const logCopy = play(occurredAt, clearAt + 1000);
      const storedCopy = play(occurredAt, clearAt - 1000);
      const { live, compressed, appended } = inMemoryHistoryStores([storedCopy]);
      const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
      const rebuilt = await new ProfileHistoryRebuild(live, compressed, config).rebuild('p', [logCopy, clear], now);
      const expected = visibleRecords(foldHistory([logCopy, clear, storedCopy]));
      expect(expected).toHaveLength(0);
      expect(rebuilt.records).toBe(expected.length);
      // The live rows appended: one per (occurredAt, eventId), the copy the fold keeps.
      expect(appended.filter((e) => e.eventId === 'e1')).toEqual(
        occurredAt >= now - config.compaction.minAgeMs ? [storedCopy] : [],
      );
    }
  });

  // Review, session 11 (ADR 9): a repair right after an erasure wrote its live rows at its own clock, under the
  // erasure's tombstone when an ingest host's clock ran ahead of the repair's.
  it('dates the live rows it writes past an erasure tombstone on record that is ahead of its clock', async () => {
    const now = Date.now();
    const recent = playbackEvent('play', now - 60_000, 0, { profileId: 'p' });
    const { live, compressed } = inMemoryHistoryStores([]);
    const options: AppendOptions[] = [];
    const append = live.append.bind(live);
    live.append = async (rows, appendOptions = {}) => (options.push(appendOptions), append(rows, appendOptions));
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const tombstoneUs = (now + 60_000) * 1000;
    const tombstones = {
      erasureTombstoneAheadOf: async (profileId: string) => (profileId === 'p' ? tombstoneUs : null),
    };
    await new ProfileHistoryRebuild(live, compressed, config, tombstones).rebuild('p', [recent], now);
    expect(options).toEqual([{ writtenAfterUs: new Map([['p', tombstoneUs + 1_000_000]]) }]);

    // None ahead on record: the driver's own write time.
    options.length = 0;
    const none = { erasureTombstoneAheadOf: async () => null };
    await new ProfileHistoryRebuild(live, compressed, config, none).rebuild('p', [recent], now);
    expect(options).toEqual([{}]);
  });
});
