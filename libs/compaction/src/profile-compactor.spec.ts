import { randomUUID } from 'node:crypto';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import { loadConfig } from '@vh/config';
import {
  compactHistory,
  EMPTY_COMPRESSED_HISTORY,
  NamedSettings,
  PlaybackEvent,
  SettledSessionNotRebuiltError,
  ViewingEvent,
} from '@vh/domain';
import { CompressedHistoryVersion, decodeChunk, isTrailChunk, loadZstd } from '@vh/storage';
import { ProfileCompactor } from './profile-compactor';
import { ProfileEventsSource } from './profile-events.source';
import { inMemoryHistoryStores } from './testing/in-memory-history-stores';

const DAY = 86_400_000;

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
    const { live, compressed, switched } = inMemoryHistoryStores(events);
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const outcome = await new ProfileCompactor(live, compressed, config).compact('huge', { now });
    expect(outcome).toMatchObject({ status: 'compacted', records: 200_000 });
    expect(switched[0]).toMatchObject({
      recordCount: 200_000,
      firstStartedAt: first,
      lastEventAt: first + 199_999 * 60_000,
    });
  }, 120_000);

  // ADR 8, issue 15: a profile that paused once was compacted daily for good. A compaction notes the pauses it
  // finished, after its switch and its deletes, and only those it read.
  it('notes the pauses it finished once recording is on from its compactedBefore, and none while paused', async () => {
    const now = Date.now();
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const setting = (at: number, recording: 'paused' | 'on'): ViewingEvent => ({
      type: 'settings-changed',
      eventId: randomUUID(),
      profileId: 'p',
      recording,
      occurredAt: at,
      acceptedAt: at,
    });
    const play = (at: number): ViewingEvent =>
      playbackEvent('play', at, 0, { profileId: 'p', playbackSessionId: randomUUID(), acceptedAt: at });
    const pause = setting(now - 100 * DAY, 'paused');
    const resumed = [pause, play(now - 95 * DAY), setting(now - 90 * DAY, 'on'), play(now - 80 * DAY)];
    const done = inMemoryHistoryStores(resumed);
    expect(await new ProfileCompactor(done.live, done.compressed, config).compact('p', { now })).toMatchObject({
      status: 'compacted',
      records: 1,
    });
    expect(done.pausesFinished).toEqual([pause.eventId]);

    // Paused again (whenever): nothing is finished. Resumed, but less than COMPACTION_MIN_AGE_MS ago: neither.
    for (const again of [setting(now - 85 * DAY, 'paused'), setting(now - DAY, 'paused')]) {
      const stores = inMemoryHistoryStores([...resumed, again]);
      await new ProfileCompactor(stores.live, stores.compressed, config).compact('p', { now });
      expect(stores.pausesFinished).toEqual([]);
    }
    const recent = inMemoryHistoryStores([pause, setting(now - DAY, 'on')]);
    await new ProfileCompactor(recent.live, recent.compressed, config).compact('p', { now });
    expect(recent.pausesFinished).toEqual([]);

    // Review of issue 15, finding 7: pauses the row already holds finished are not written again, nor are the
    // version's settings named on its switch when the row names them all.
    const again = inMemoryHistoryStores(resumed);
    const known: string[][] = [];
    const compressed = Object.assign(again.compressed, {
      namedForDailySweep: async () => ({ pauses: [pause.eventId], periods: [], pausesFinished: [pause.eventId] }),
      switchVersion: async (_expected: number | null, next: CompressedHistoryVersion, named?: NamedSettings) => {
        known.push(named?.pauses ?? []);
        return (again.switched.push(next), true);
      },
    });
    await new ProfileCompactor(again.live, compressed, config).compact('p', { now });
    expect(again.switched).toHaveLength(1);
    expect(again.pausesFinished).toEqual([]);
    expect(known).toEqual([[pause.eventId]]);
  });

  // ADR 9: a note written after an erasure (a partition's stalled previous owner) named a setting the profile no
  // longer holds. The next compaction marks it erased, unless a switch came between its reads of the history.
  it('marks erased the named settings its read does not find, only when no switch came between its reads', async () => {
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const pause: ViewingEvent = {
      type: 'settings-changed',
      eventId: randomUUID(),
      profileId: 'p',
      recording: 'paused',
      occurredAt: Date.now(),
      acceptedAt: Date.now(),
    };
    const run = async (events: ViewingEvent[], switchedMeanwhile: boolean) => {
      const stores = inMemoryHistoryStores(events);
      const erased: string[] = [];
      const compressed = Object.assign(stores.compressed, {
        namedForDailySweep: async () => ({ pauses: ['gone', pause.eventId], periods: ['gone-too'] }),
        noteErasedForDailySweep: async (_profileId: string, ids: readonly string[]) => void erased.push(...ids),
        readVersion: async () =>
          switchedMeanwhile ? { ...stores.switched[0], version: 7 } : (stores.switched.at(-1) ?? null),
      });
      await new ProfileCompactor(stores.live, compressed, config).compact('p');
      return erased.sort();
    };
    expect(await run([], false)).toEqual(['gone', 'gone-too', pause.eventId].sort()); // nothing holds them
    expect(await run([pause], false)).toEqual(['gone', 'gone-too']); // its live row holds the pause
    expect(await run([], true)).toEqual([]); // another switch between the reads: it may have moved them
  });

  // Review of issue 15, finding 1: at consistency ONE a read may miss the setting's live row or its version (a
  // stale replica), and a live setting marked erased would leave the daily sweep for good. Only quorum-level reads
  // and writes on both sides make "not found" mean erased.
  it('marks nothing erased unless reads and writes are both quorum-level', async () => {
    const named = async () => ({ pauses: ['maybe-stale'], periods: ['maybe-stale-too'] });
    const run = async (env: Record<string, string>) => {
      const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1', ...env });
      const stores = inMemoryHistoryStores([]);
      const erased: string[] = [];
      const compressed = Object.assign(stores.compressed, {
        namedForDailySweep: named,
        noteErasedForDailySweep: async (_profileId: string, ids: readonly string[]) => void erased.push(...ids),
      });
      await new ProfileCompactor(stores.live, compressed, config).compact('p');
      return erased;
    };
    expect(await run({ CASSANDRA_READ_CONSISTENCY: 'ONE' })).toEqual([]);
    expect(await run({ CASSANDRA_WRITE_CONSISTENCY: 'LOCAL_ONE' })).toEqual([]);
    expect(await run({ CASSANDRA_READ_CONSISTENCY: 'QUORUM', CASSANDRA_WRITE_CONSISTENCY: 'ALL' })).toHaveLength(2);
  });

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
    const { live, compressed, switched } = inMemoryHistoryStores([removal]);
    const current = { version: 1, chunkSet: randomUUID(), chunkCount: 1, trailChunkCount: 1 };
    compressed.read = async () => ({ version: current, history }) as never;
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const outcome = await new ProfileCompactor(live, compressed, config).compact('p', { now: now - 20 * DAY });
    expect(outcome.status).toBe('compacted');
    expect(switched[0]).toMatchObject({ recordCount: 0 });
  });

  it('removes a stored record once auto-delete expires it, though no live row is left to roll up', async () => {
    const now = Date.now();
    const play = (daysAgo: number): ViewingEvent => ({
      type: 'play',
      eventId: randomUUID(),
      profileId: 'p',
      playbackSessionId: randomUUID(),
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs: 0,
      occurredAt: now - daysAgo * DAY,
      acceptedAt: now - daysAgo * DAY,
    });
    const [old, recent] = [play(200), play(20)];
    const setting: ViewingEvent = {
      type: 'settings-changed',
      eventId: randomUUID(),
      profileId: 'p',
      autoDelete: '3m',
      occurredAt: now - 30 * DAY,
      acceptedAt: now - 30 * DAY,
    };
    // Everything already compacted, the setting included: the live table is empty.
    const history = compactHistory(EMPTY_COMPRESSED_HISTORY, [old, recent, setting], now - 15 * DAY, { now });
    expect(history.records).toHaveLength(1); // the old record went when the setting was compacted
    const { live, compressed, switched } = inMemoryHistoryStores([]);
    // The recent record ages past three months: the next run must remove it without any live row.
    const later = now + 100 * DAY;
    const current = { version: 1, chunkSet: randomUUID(), chunkCount: 1, trailChunkCount: 1 };
    compressed.read = async () => ({ version: current, history }) as never;
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const outcome = await new ProfileCompactor(live, compressed, config).compact('p', { now: later });
    expect(outcome.status).toBe('compacted');
    expect(switched[0]).toMatchObject({ recordCount: 0, removedCount: 2 });
    expect(JSON.parse(switched[0].memberControls!)).toMatchObject({
      settings: [[setting.eventId, setting.acceptedAt, null, '3m']],
    });
  });

  describe('rows written within the delete margin (planLiveRowDeletes)', () => {
    const now = Date.now();
    /** `count` sessions accepted 100 days ago (settled by a run that removes their rows), written 1 ms apart. */
    const storesWithRows = (count: number) => {
      const events = Array.from({ length: count }, (_, i) => ({
        ...playbackEvent('play', now - 100 * DAY + i * 60_000, 0, { profileId: 'p', playbackSessionId: randomUUID() }),
        acceptedAt: now - 100 * DAY,
      }));
      const stores = inMemoryHistoryStores(events);
      const writtenUs = now * 1000;
      stores.live.readProfile = async () => ({
        events,
        rowsRead: events.map((e, i) => ({ occurredAt: e.occurredAt, eventId: e.eventId, writeTimeUs: writtenUs + i })),
        newestWriteTimeUs: writtenUs + count - 1,
      });
      const deletes: { tombstoneUs: number | null; byKey: number }[] = [];
      stores.live.deleteBefore = async (_profileId, _instant, tombstoneUs, byKey = []) =>
        void deletes.push({ tombstoneUs, byKey: byKey.length });
      return { ...stores, deletes, newestUs: writtenUs + count - 1 };
    };
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const log: ProfileEventsSource = { eventsOf: async () => [] };

    it('deletes up to MAX_ROW_DELETES of them by key and settles their records', async () => {
      const { live, compressed, deletes, newestUs } = storesWithRows(100);
      const outcome = await new ProfileCompactor(live, compressed, config, log).compact('p', { now });
      expect(outcome).toMatchObject({ status: 'compacted', recordsSettled: 100, liveRowsLeft: 0 });
      expect(outcome.liveRowsLeftThroughUs).toBeNull();
      expect(deletes).toEqual([{ tombstoneUs: newestUs - config.compaction.deleteMarginMs * 1000, byKey: 100 }]);
    });

    it('leaves more of them in place, settling none of their records, for a follow-up dated at their newest write', async () => {
      const { live, compressed, deletes, newestUs } = storesWithRows(101);
      const outcome = await new ProfileCompactor(live, compressed, config, log).compact('p', { now });
      expect(outcome).toMatchObject({ status: 'compacted', recordsSettled: 0, liveRowsLeft: 101 });
      expect(outcome.liveRowsLeftThroughUs).toBe(newestUs);
      expect(deletes).toEqual([{ tombstoneUs: newestUs - config.compaction.deleteMarginMs * 1000, byKey: 0 }]);

      const followUp = storesWithRows(101);
      const after = await new ProfileCompactor(followUp.live, followUp.compressed, config, log).compact('p', {
        now,
        liveRowsLeftThroughUs: newestUs,
      });
      expect(after).toMatchObject({ recordsSettled: 101, liveRowsLeft: 0, liveRowsLeftThroughUs: null });
      expect(followUp.deletes).toEqual([{ tombstoneUs: newestUs, byKey: 0 }]);
    });
  });

  describe('settled records (ADR 6)', () => {
    const now = Date.now();
    const session = randomUUID();
    const event = (type: PlaybackEvent['type'], daysAgo: number, positionMs: number, acceptedDaysAgo = daysAgo) => ({
      type,
      eventId: randomUUID(),
      profileId: 'p',
      playbackSessionId: session,
      titleId: 'title-a',
      deviceId: 'tv',
      positionMs,
      occurredAt: now - daysAgo * DAY,
      acceptedAt: now - acceptedDaysAgo * DAY,
    });
    const MINUTE = 60_000;
    const play = event('play', 100, 0);
    // Accepted today, long after the session was settled: a late event.
    const latePause = { ...event('pause', 100, 20 * MINUTE, 0), occurredAt: play.occurredAt + 20 * MINUTE };
    const config = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', COMPACTION_ZSTD_LEVEL: '1' });
    const settledHistory = () => {
      const history = compactHistory(EMPTY_COMPRESSED_HISTORY, [play], now - 50 * DAY, {
        settleBefore: now - 30 * DAY,
      });
      expect(history.trails.has(session)).toBe(false);
      return history;
    };
    const storesWith = (live: ViewingEvent[]) => {
      const stores = inMemoryHistoryStores(live);
      const current = { version: 1, chunkSet: randomUUID(), chunkCount: 1, trailChunkCount: 1 };
      const history = settledHistory();
      stores.compressed.read = async () => ({ version: current, history }) as never;
      const written: Buffer[] = [];
      const writeChunkSet = stores.compressed.writeChunkSet;
      stores.compressed.writeChunkSet = (profileId, chunks, version) => (
        written.push(...chunks),
        writeChunkSet(profileId, chunks, version)
      );
      return { ...stores, written };
    };
    const log = (events: ViewingEvent[]): ProfileEventsSource => ({ eventsOf: async () => events });

    it('rebuilds a settled record that a late event touches from the event log, and folds the event once', async () => {
      const { live, compressed, switched, written } = storesWith([latePause]);
      const compactor = new ProfileCompactor(live, compressed, config, log([play, latePause]));
      const outcome = await compactor.compact('p', { now });
      expect(outcome).toMatchObject({ status: 'compacted', settledRecordsRebuilt: 1 });
      expect(switched).toHaveLength(1);
      const zstd = await loadZstd();
      const records = written
        .map((chunk) => zstd.decompress(chunk))
        .filter((chunk) => !isTrailChunk(chunk))
        .flatMap((chunk) => decodeChunk('p', chunk).records);
      expect(records).toEqual([
        expect.objectContaining({ recordId: session, state: 'paused', watchedMs: 20 * MINUTE }),
      ]);
    });

    it('refuses to compact a touched settled record without an event log: the late row is never deleted', async () => {
      const { live, compressed, switched } = storesWith([latePause]);
      let deleted = false;
      live.deleteBefore = async () => void (deleted = true);
      await expect(new ProfileCompactor(live, compressed, config).compact('p', { now })).rejects.toThrow(
        SettledSessionNotRebuiltError,
      );
      expect(switched).toHaveLength(0);
      expect(deleted).toBe(false);
    });

    it('settles records whose events were all accepted before the retention, never across datacenters', async () => {
      const old = event('play', 100, 0);
      for (const [replication, settled] of [
        [undefined, 1],
        ['datacenter1:1,dc2:1', 0],
      ] as const) {
        const { live, compressed, switched } = inMemoryHistoryStores([
          old,
          { ...event('play', 20, 0), playbackSessionId: randomUUID() },
        ]);
        const settings = {
          COMPACTION_ZSTD_DICTIONARY: 'none',
          ...(replication ? { CASSANDRA_REPLICATION: replication } : {}),
        };
        const compactor = new ProfileCompactor(live, compressed, loadConfig(settings), log([]));
        const outcome = await compactor.compact('p', { now });
        expect(outcome).toMatchObject({ status: 'compacted', recordsSettled: settled, records: 2 });
        expect(switched).toHaveLength(1);
      }
      // Without an event log to rebuild from, nothing is settled.
      const { live, compressed } = inMemoryHistoryStores([old]);
      const outcome = await new ProfileCompactor(live, compressed, config).compact('p', { now });
      expect(outcome).toMatchObject({ status: 'compacted', recordsSettled: 0 });
    });

    it('refuses a rebuild from a log that lacks events the record counted, or across datacenters', async () => {
      const pause = { ...event('pause', 100, 5 * MINUTE), occurredAt: play.occurredAt + 5 * MINUTE };
      const history = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, pause], now - 50 * DAY, {
        settleBefore: now - 30 * DAY,
      });
      expect(history.settledDigests.get(session)).toEqual({ events: 2, lastAcceptedAt: play.acceptedAt });
      const attempt = async (logged: ViewingEvent[], settings: Record<string, string> = {}) => {
        const stores = inMemoryHistoryStores([latePause]);
        const current = { version: 1, chunkSet: randomUUID(), chunkCount: 1, trailChunkCount: 1 };
        stores.compressed.read = async () => ({ version: current, history }) as never;
        let deleted = false;
        stores.live.deleteBefore = async () => void (deleted = true);
        const cfg = loadConfig({ COMPACTION_ZSTD_DICTIONARY: 'none', ...settings });
        const outcome = new ProfileCompactor(stores.live, stores.compressed, cfg, log(logged)).compact('p', { now });
        return { outcome, switched: stores.switched, deleted: () => deleted };
      };
      // Another region's log, partitions added: the log holds the late event and only part of the session.
      const partial = await attempt([play, latePause]);
      await expect(partial.outcome).rejects.toThrow(/holds 1 event\(s\) of it accepted by its last, it counted 2/);
      const fewer = await attempt([latePause]);
      await expect(fewer.outcome).rejects.toThrow(SettledSessionNotRebuiltError);
      expect(fewer.switched).toHaveLength(0);
      expect(fewer.deleted()).toBe(false);
      const regions = await attempt([play, pause, latePause], { CASSANDRA_REPLICATION: 'datacenter1:1,dc2:1' });
      await expect(regions.outcome).rejects.toThrow(/several datacenters/);
      const whole = await attempt([play, pause, latePause]);
      await expect(whole.outcome).resolves.toMatchObject({
        status: 'compacted',
        settledRecordsRebuilt: 1,
        lateEvents: 1,
      });
    });
  });
});
