import fc from 'fast-check';
import { Client, types } from 'cassandra-driver';
import { loadConfig } from '@vh/config';
import { activityKey, dayOf, isLateArrival, ProfileActivityIndex, shardOf } from './profile-activity.index';

const config = loadConfig({ CASSANDRA_KEYSPACE: 'ks' });
const DAY = 86_400_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');

/** The driver's two write calls, recorded; a batch containing a row of `failingProfile` fails. */
function recordingClient(failingProfile?: string) {
  const writes: { table: string; day: string; shard: number; profileId: string }[][] = [];
  const write = (rows: { query: string; params: unknown[] }[]) => {
    const parsed = rows.map(({ query, params }) => ({
      table: /INTO ks\.(\w+)/.exec(query)![1],
      day: params[0] as string,
      shard: params[1] as number,
      profileId: params[2] as string,
    }));
    writes.push(parsed);
    return parsed.some((r) => r.profileId === failingProfile)
      ? Promise.reject(new Error('unavailable'))
      : Promise.resolve();
  };
  const client = {
    // The erasure markers (read before trusting what is remembered): none here.
    execute: (query: string, params: unknown[]) =>
      /^SELECT/.test(query) ? Promise.resolve({ rows: [] }) : write([{ query, params }]),
    batch: (queries: { query: string; params: unknown[] }[]) => write(queries),
  } as unknown as Client;
  return { client, writes };
}

const events = fc.array(
  fc.record({
    profileId: fc.constantFrom('p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6'),
    occurredAt: fc.integer({ min: NOW - 30 * DAY, max: NOW }),
  }),
  { maxLength: 300 },
);

describe('ProfileActivityIndex.recordMany', () => {
  it('writes each (day, profile) row and each late arrival row once, in batches of one partition', async () => {
    await fc.assert(
      fc.asyncProperty(events, async (list) => {
        const { client, writes } = recordingClient();
        const index = new ProfileActivityIndex(client, config);
        expect((await index.recordMany(list, 4, NOW)).size).toBe(0);
        const expected = new Set<string>();
        for (const e of list) {
          expected.add(`profile_activity|${dayOf(e.occurredAt)}|${shardOf(e.profileId)}|${e.profileId}`);
          if (isLateArrival(e.occurredAt, NOW, config.compaction.minAgeMs))
            expected.add(`profile_late_activity|${dayOf(NOW)}|${shardOf(e.profileId)}|${e.profileId}`);
        }
        const written = writes.flat().map((r) => `${r.table}|${r.day}|${r.shard}|${r.profileId}`);
        expect(written.sort()).toEqual([...expected].sort());
        for (const batch of writes) {
          expect(batch.length).toBeLessThanOrEqual(50);
          expect(new Set(batch.map((r) => `${r.table}|${r.day}|${r.shard}`)).size).toBe(1);
        }
        // Remembered: the same events again write nothing.
        writes.length = 0;
        expect((await index.recordMany(list, 4, NOW)).size).toBe(0);
        expect(writes).toEqual([]);
      }),
    );
  });

  it('reports exactly the events whose rows were in a failed batch, and forgets nothing it did not write', async () => {
    await fc.assert(
      fc.asyncProperty(events, async (list) => {
        const { client, writes } = recordingClient('p-1');
        const index = new ProfileActivityIndex(client, config);
        const failed = await index.recordMany(list, 4, NOW);
        // Every event of p-1 fails; any other event fails only if it shared a batch with a p-1 row.
        const failedRows = new Set(
          writes.filter((b) => b.some((r) => r.profileId === 'p-1')).flatMap((b) => b.map((r) => r.profileId)),
        );
        for (const e of list) {
          const key = activityKey(e.profileId, e.occurredAt);
          if (e.profileId === 'p-1') expect(failed.has(key)).toBe(true);
          if (!failedRows.has(e.profileId)) expect(failed.has(key)).toBe(false);
        }
        // The failed rows are written again on the next call.
        writes.length = 0;
        await index.recordMany(list, 4, NOW);
        const again = new Set(writes.flat().map((r) => r.profileId));
        if (list.some((e) => e.profileId === 'p-1')) expect(again.has('p-1')).toBe(true);
      }),
    );
  });

  // ADR 8 (session 8): the daily sweep visits profiles that set auto-delete, and those that paused recording:
  // a session a pause hides may stay stored until a compaction after COMPACTION_MIN_AGE_MS, which nothing
  // else asks for on a profile nobody reads. Each noted once, with why.
  // Whether the erasure markers (read before trusting what is remembered) can be read changes nothing here.
  it.each([
    ['the erasure markers read', false],
    ['the erasure markers unreadable', true],
  ])(
    'notes a profile for the daily sweep when it pauses recording or sets an auto-delete period, with the reason (%s)',
    async (_, unreadable) => {
      const written: { query: string; params: unknown[] }[] = [];
      const client = {
        execute: async (query: string, params: unknown[]) => {
          if (!/^SELECT/.test(query)) return void written.push({ query, params });
          if (unreadable) throw new Error('no host available');
          return { rows: [] };
        },
        batch: async (queries: { query: string; params: unknown[] }[]) => void written.push(...queries),
      } as unknown as Client;
      const index = new ProfileActivityIndex(client, config);
      const setting = (profileId: string, eventId: string, fields: { recording?: string; autoDelete?: string }) => ({
        profileId,
        eventId,
        occurredAt: NOW,
        type: 'settings-changed',
        ...fields,
      });
      await index.recordMany(
        [
          setting('paused', 'e1', { recording: 'paused' }),
          setting('paused', 'e1', { recording: 'paused' }), // the same pause again: noted once
          setting('paused', 'e2', { recording: 'paused' }), // another pause: named too (migration 12)
          setting('resumed', 'e3', { recording: 'on' }),
          setting('period', 'e4', { autoDelete: '3m' }),
          setting('never', 'e5', { autoDelete: 'never' }),
          setting('both', 'e6', { recording: 'paused', autoDelete: '36m' }),
        ],
        4,
        NOW,
      );
      const noted = written
        .filter((w) => w.query.includes('ks.profile_auto_delete'))
        .map((w) => {
          // Named: the profile stays in the daily sweep until a compaction finishes the pause (or finds it erased).
          expect(w.query).toMatch(/SET reasons = reasons \+ \?, pauses = pauses \+ \?, periods = periods \+ \?/);
          const [reasons, pauses, periods, shard, profileId] = w.params as [
            string[],
            string[],
            string[],
            number,
            string,
          ];
          expect(shard).toBe(shardOf(profileId));
          return `${profileId}:${reasons.join(',')}:${pauses.join(',')}:${periods.join(',')}`;
        });
      expect(noted.sort()).toEqual([
        'both:auto-delete::e6',
        'both:paused:e6:',
        'paused:paused:e1:',
        'paused:paused:e2:',
        'period:auto-delete::e4',
      ]);
    },
  );

  // ADR 9 (session 12): an erasure dated the delete of the profile's index rows (key-only: no write time of theirs
  // is readable) no earlier than its live tombstone, perhaps by a clock ahead of ours: the rows written after it
  // are dated past it as the live rows are, or the profile is lost from the daily sweep and the export's walk.
  it("dates every row of a profile past its erasure's tombstone while that is ahead of the clock, and only those", async () => {
    const written: { query: string; params: unknown[] }[] = [];
    const client = {
      execute: async (query: string, params: unknown[]) =>
        /^SELECT/.test(query) ? { rows: [] } : void written.push({ query, params }),
      batch: async (queries: { query: string; params: unknown[] }[]) => void written.push(...queries),
    } as unknown as Client;
    const index = new ProfileActivityIndex(client, config);
    const aheadUs = (Date.now() + 60_000) * 1000;
    const writtenAfterUs = new Map([
      ['erased', aheadUs],
      ['passed', (Date.now() - 1_000) * 1000], // behind our clock: the driver's write time is later anyway
    ]);
    const late = NOW - 20 * DAY;
    expect(isLateArrival(late, NOW, config.compaction.minAgeMs)).toBe(true);
    const events = ['erased', 'passed', 'other'].flatMap((profileId) => [
      { profileId, occurredAt: late },
      { profileId, eventId: `${profileId}-setting`, occurredAt: NOW, type: 'settings-changed', autoDelete: '3m' },
    ]);
    expect((await index.recordMany(events, 4, NOW, writtenAfterUs)).size).toBe(0);

    const byProfile = new Map<string, { query: string; params: unknown[] }[]>();
    for (const w of written) {
      const profileId = w.params.find((p) => typeof p === 'string' && ['erased', 'passed', 'other'].includes(p));
      byProfile.set(profileId as string, [...(byProfile.get(profileId as string) ?? []), w]);
    }
    // Each profile: its event day's row, its arrival day's (late), its daily-sweep note.
    for (const rows of byProfile.values()) expect(rows).toHaveLength(4);
    for (const profileId of ['passed', 'other'])
      for (const { query } of byProfile.get(profileId)!) expect(query).not.toMatch(/USING TIMESTAMP/);
    const dated = byProfile.get('erased')!;
    const after = types.Long.fromNumber(aheadUs + 1);
    for (const { query, params } of dated) {
      expect(query).toMatch(/USING TIMESTAMP \?/);
      // The write time is bound where the statement names it: first in a note (UPDATE), last in an INSERT.
      const at = /^UPDATE/.test(query) ? params[0] : params[params.length - 1];
      expect(at).toEqual(after);
      expect(params.filter((p) => p instanceof types.Long)).toHaveLength(1);
    }
    expect(dated.map((w) => /^(INSERT INTO|UPDATE) ks\.(\w+)/.exec(w.query)![2]).sort()).toEqual([
      'profile_activity',
      'profile_activity',
      'profile_auto_delete',
      'profile_late_activity',
    ]);
  });
});
