import { loadConfig } from '@vh/config';
import { LiveHistoryProfileWalk, ProfileActivityDays, SweepWatermark, SweepWatermarkStore } from '@vh/storage';
import { CompactionCandidates, SCHEDULED_SWEEP } from './compaction-candidates';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const day = (instant: number) => new Date(instant).toISOString().slice(0, 10);

/** In-memory fakes of the indexes, the live table and the watermark row. */
function candidates(
  activeOn: Record<string, string[]>,
  lateOn: Record<string, string[]>,
  walk: string[],
  autoDelete: string[] = [],
) {
  const asked: string[] = [];
  const stored = new Map<string, SweepWatermark>();
  const activity: ProfileActivityDays = {
    async *profilesActiveOn(instant: number) {
      asked.push(`event ${day(instant)}`);
      yield* activeOn[day(instant)] ?? [];
    },
    async *profilesArrivedLateOn(instant: number) {
      asked.push(`arrival ${day(instant)}`);
      yield* [...(lateOn[day(instant)] ?? [])]; // as read when asked
    },
    async *profilesSweptDaily() {
      asked.push('auto-delete');
      yield* autoDelete;
    },
  };
  const partitions: LiveHistoryProfileWalk = {
    async *profilesWithEventsBefore() {
      asked.push('walk');
      yield* walk;
    },
  };
  const watermarks: SweepWatermarkStore = {
    read: async (sweep: string) => stored.get(sweep) ?? null,
    write: async (sweep: string, watermark: SweepWatermark) => void stored.set(sweep, watermark),
  };
  const config = loadConfig({ COMPACTION_MIN_AGE_MS: String(14 * DAY), COMPACTION_SWEEP_DAYS: '3' });
  return { sweep: new CompactionCandidates(activity, partitions, watermarks, config), asked, stored };
}

async function all(profiles: AsyncIterable<string>): Promise<string[]> {
  const list: string[] = [];
  for await (const p of profiles) list.push(p);
  return list;
}

describe('CompactionCandidates', () => {
  it('walks the live table on the first scheduled sweep, then resumes from the watermark it leaves', async () => {
    const { sweep, asked, stored } = candidates({}, {}, ['a', 'b']);
    const first = await sweep.sinceWatermark(NOW);
    expect(first.reason).toMatch(/^no watermark yet: every profile/);
    expect(await all(first.profiles)).toEqual(['a', 'b']);
    await first.complete();
    expect(stored.get(SCHEDULED_SWEEP)).toEqual({
      eventDaysBefore: Date.parse('2026-11-12T00:00:00Z'),
      arrivalDaysBefore: Date.parse('2026-11-26T00:00:00Z'),
      sweptAt: NOW,
    });
    asked.length = 0;
    const next = await sweep.sinceWatermark(NOW + 15 * 60_000);
    await all(next.profiles);
    // The newest event day again (partly old enough), at least 3 days, and yesterday's and today's arrivals.
    expect(asked).toEqual([
      'event 2026-11-10',
      'event 2026-11-11',
      'event 2026-11-12',
      'arrival 2026-11-25',
      'arrival 2026-11-26',
    ]);
  });

  it('catches up on every event and arrival day since the watermark, however old, each profile once', async () => {
    const { sweep, asked, stored } = candidates(
      { '2026-10-20': ['a', 'b'], '2026-11-01': ['b', 'c'] },
      { '2026-11-20': ['d', 'a'] },
      [],
    );
    stored.set(SCHEDULED_SWEEP, {
      eventDaysBefore: Date.parse('2026-10-20T00:00:00Z'),
      arrivalDaysBefore: Date.parse('2026-11-20T00:00:00Z'),
      sweptAt: 0,
    });
    const plan = await sweep.sinceWatermark(NOW);
    expect(await all(plan.profiles)).toEqual(['a', 'b', 'c', 'd']);
    expect(asked.filter((a) => a.startsWith('event'))).toHaveLength(24); // 2026-10-20 .. 2026-11-12
    expect(asked.filter((a) => a.startsWith('arrival'))).toHaveLength(8); // 2026-11-19 .. 2026-11-26
    expect(plan.reason).toBe(
      'profiles active on event days 2026-10-20..2026-11-12 (watermark 2026-10-20), ' +
        'and with events of earlier days that arrived on 2026-11-19..2026-11-26, ' +
        'and every profile with auto-delete or paused recording (first sweep of 2026-11-26)',
    );
  });

  it('sweeps a late arrival recorded at the end of a day that a sweep run just after midnight had already read', async () => {
    const lateOn: Record<string, string[]> = { '2026-11-26': ['a'] };
    const { sweep, stored } = candidates({}, lateOn, []);
    stored.set(SCHEDULED_SWEEP, {
      eventDaysBefore: Date.parse('2026-11-12T00:00:00Z'),
      arrivalDaysBefore: Date.parse('2026-11-26T00:00:00Z'),
      sweptAt: 0,
    });
    const justAfterMidnight = Date.parse('2026-11-27T00:00:01Z');
    const first = await sweep.sinceWatermark(justAfterMidnight);
    const seen: string[] = [];
    for await (const profileId of first.profiles) {
      seen.push(profileId);
      // Once the sweep has read 2026-11-26: an ingest write stamped 23:59:59.9 that was still in flight
      // (or an ingest whose clock is a second behind the sweep's) lands in the 2026-11-26 bucket now.
      if (profileId === 'a') lateOn['2026-11-26'].push('late-at-midnight');
    }
    await first.complete();
    expect(seen).toEqual(['a']);
    const next = await sweep.sinceWatermark(justAfterMidnight + 15 * 60_000);
    expect(await all(next.profiles)).toContain('late-at-midnight');
  });

  it('walks the live table when the watermark is older than the indexes keep (90 days)', async () => {
    const { sweep, stored } = candidates({}, {}, ['z']);
    stored.set(SCHEDULED_SWEEP, { eventDaysBefore: NOW - 100 * DAY, arrivalDaysBefore: NOW, sweptAt: 0 });
    const plan = await sweep.sinceWatermark(NOW);
    expect(plan.reason).toMatch(/older than the activity index keeps/);
    expect(await all(plan.profiles)).toEqual(['z']);
  });

  // ADR 8: a profile nobody reads whose compressed records age past its auto-delete period kept them stored
  // (never returned, but not removed) until some other event brought a compaction.
  it('visits every profile with auto-delete on the first scheduled sweep of each UTC day, and not again that day', async () => {
    const { sweep, stored } = candidates({ '2026-11-12': ['a'] }, {}, [], ['a', 'x', 'y']);
    stored.set(SCHEDULED_SWEEP, {
      eventDaysBefore: Date.parse('2026-11-12T00:00:00Z'),
      arrivalDaysBefore: Date.parse('2026-11-26T00:00:00Z'),
      sweptAt: Date.parse('2026-11-25T23:50:00Z'),
    });
    const first = await sweep.sinceWatermark(NOW);
    expect(await all(first.profiles)).toEqual(['a', 'x', 'y']);
    expect(first.reason).toMatch(
      /and every profile with auto-delete or paused recording \(first sweep of 2026-11-26\)$/,
    );
    await first.complete();
    const later = await sweep.sinceWatermark(NOW + 3_600_000);
    expect(await all(later.profiles)).toEqual(['a']);
    expect(later.reason).not.toMatch(/auto-delete/);
  });

  it('visits the profiles with auto-delete when it walks the live table too (no watermark yet)', async () => {
    const { sweep } = candidates({}, {}, ['a'], ['a', 'b']);
    const plan = await sweep.sinceWatermark(NOW);
    expect(await all(plan.profiles)).toEqual(['a', 'b']);
    expect(plan.reason).toMatch(/auto-delete/);
  });
});
