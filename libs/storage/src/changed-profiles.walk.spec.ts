import fc from 'fast-check';
import { Client, errors } from 'cassandra-driver';
import { DependencyUnavailableError } from '@vh/domain';
import { AppConfig } from '@vh/config';
import { ChangedProfile, ChangedProfilesWalk } from './changed-profiles.walk';
import { dayOf, shardOf } from './live/profile-activity.index';
import { ProfileActivityBuckets } from './ports/profile-activity.buckets';

const DAY = 86_400_000;
const SINCE = Date.parse('2026-11-20T10:00:00Z');

/** The activity index in memory: rows (day, shard, profile), profile-id order inside a bucket. */
class InMemoryActivity implements ProfileActivityBuckets {
  readonly rows = new Set<string>();
  add(profileId: string, dayOffset: number) {
    this.rows.add(`${dayOf(SINCE + dayOffset * DAY)}|${profileId}`);
  }
  async *profilesOfBucket(day: string, shard: number, after?: string): AsyncGenerator<string> {
    const ids = [...this.rows]
      .map((row) => row.split('|'))
      .filter(([d, p]) => d === day && shardOf(p) === shard && (after === undefined || p > after))
      .map(([, p]) => p)
      .sort();
    for (const id of ids) yield id;
  }
  /** Not part of the port any more: a walk that asked per profile would call it. */
  async activeOnAnyOf(profileId: string, days: readonly string[]) {
    return days.some((day) => this.rows.has(`${day}|${profileId}`));
  }
}

function walkOver(activity: InMemoryActivity) {
  const config = { cassandra: { keyspace: 'ks' } } as AppConfig;
  return new ChangedProfilesWalk({} as Client, config, activity);
}

async function collect(walk: AsyncGenerator<ChangedProfile>, onEach?: (i: number) => void) {
  const out: ChangedProfile[] = [];
  for await (const profile of walk) {
    out.push(profile);
    onEach?.(out.length);
  }
  return out;
}

const rows = fc.array(
  fc.tuple(fc.constantFrom('p1', 'p2', 'p3', 'p4', 'q5', 'q6', 'r7'), fc.integer({ min: 0, max: 4 })),
  {
    minLength: 1,
    maxLength: 25,
  },
);

describe('ChangedProfilesWalk.byActivity', () => {
  it('gives every profile of the window once, and a walk resumed after any position gives exactly the rest', async () => {
    await fc.assert(
      fc.asyncProperty(rows, fc.nat(), async (pairs, cutSeed) => {
        const activity = new InMemoryActivity();
        for (const [p, d] of pairs) activity.add(p, d);
        const walk = walkOver(activity);
        const until = SINCE + 4 * DAY;
        const all = await collect(walk.byActivity(SINCE, until));
        expect(all.map((p) => p.profileId).sort()).toEqual([...new Set(pairs.map(([p]) => p))].sort());
        const cut = cutSeed % all.length;
        const rest = await collect(walk.byActivity(SINCE, until, all[cut].position));
        expect(rest).toEqual(all.slice(cut + 1));
      }),
    );
  });

  it('never loses a profile to a late event on an earlier day arriving mid-walk', async () => {
    await fc.assert(
      fc.asyncProperty(rows, fc.nat(), fc.integer({ min: 0, max: 4 }), async (pairs, atSeed, lateDay) => {
        const activity = new InMemoryActivity();
        for (const [p, d] of pairs) activity.add(p, d);
        const profiles = [...new Set(pairs.map(([p]) => p))];
        const late = profiles[atSeed % profiles.length];
        const given = await collect(walkOver(activity).byActivity(SINCE, SINCE + 4 * DAY), (i) => {
          if (i === 1) activity.add(late, lateDay);
        });
        // An array, not a Set: a profile given twice would pass a Set comparison.
        expect(given.map((p) => p.profileId).sort()).toEqual([...profiles].sort());
      }),
    );
  });

  it('gives a profile once even when it gets an event on a later day after it was given (an event of today)', async () => {
    await fc.assert(
      fc.asyncProperty(rows, fc.nat(), fc.integer({ min: 0, max: 4 }), async (pairs, atSeed, newDay) => {
        const activity = new InMemoryActivity();
        for (const [p, d] of pairs) activity.add(p, d);
        const profiles = [...new Set(pairs.map(([p]) => p))];
        const given = await collect(walkOver(activity).byActivity(SINCE, SINCE + 4 * DAY), (i) => {
          // The profile just given gets an event on some day of the window, possibly after its own.
          if (i === 1 + (atSeed % profiles.length) || i === 1) activity.add(profiles[atSeed % profiles.length], newDay);
        });
        expect(given.map((p) => p.profileId).sort()).toEqual([...profiles].sort());
      }),
    );
  });

  it('never gives a profile again when a walk resumed in another request follows one that gave it, whatever arrived between', async () => {
    await fc.assert(
      fc.asyncProperty(rows, fc.nat(), fc.integer({ min: 0, max: 4 }), async (pairs, cutSeed, newDay) => {
        const activity = new InMemoryActivity();
        for (const [p, d] of pairs) activity.add(p, d);
        const walk = walkOver(activity);
        const until = SINCE + 4 * DAY;
        const first = await collect(walk.byActivity(SINCE, until));
        const cut = cutSeed % first.length;
        // Between the dropped connection and the resume, a profile already given gets an event on some day.
        for (const given of first.slice(0, cut + 1)) activity.add(given.profileId, newDay);
        const rest = await collect(walk.byActivity(SINCE, until, first[cut].position));
        const ids = [...first.slice(0, cut + 1), ...rest].map((p) => p.profileId);
        expect(ids).toEqual([...new Set(ids)]);
        expect(ids.sort()).toEqual([...new Set(pairs.map(([p]) => p))].sort());
      }),
    );
  });

  it('keeps no state per profile given: it reads each bucket as a stream, never asking per profile', async () => {
    const activity = new InMemoryActivity();
    for (let i = 0; i < 2_000; i++) activity.add(`p${String(i).padStart(5, '0')}`, i % 5);
    const perProfile = jest.spyOn(activity, 'activeOnAnyOf');
    const given = await collect(walkOver(activity).byActivity(SINCE, SINCE + 4 * DAY));
    expect(given).toHaveLength(2_000);
    expect(perProfile).not.toHaveBeenCalled();
  });
});

describe('ChangedProfilesWalk.byTokenRanges', () => {
  /** A driver that answers every range query with one profile per range, failing `failures` times first. */
  function flakyClient(failures: number) {
    let calls = 0;
    const execute = async (query: string, params: unknown[]) => {
      calls++;
      if (failures-- > 0) throw new errors.OperationTimedOutError('read timeout on a range scan');
      const rows = query.includes('compressed_history')
        ? []
        : [{ get: (column: string) => (column === 't' ? String(params[1]) : `p-${String(params[1])}`) }];
      return {
        async *[Symbol.asyncIterator]() {
          yield* rows;
        },
      };
    };
    return { client: { execute } as unknown as Client, calls: () => calls };
  }

  it('reads a range again after a transient failure instead of ending the export (chaos seed 7)', async () => {
    const { client } = flakyClient(2);
    const config = { cassandra: { keyspace: 'ks', readConsistency: 'ONE' } } as AppConfig;
    const walk = new ChangedProfilesWalk(client, config, new InMemoryActivity());
    const given = await collect(walk.byTokenRanges(SINCE, 4));
    expect(given).toHaveLength(4);
  });

  it('gives up on a range that keeps failing, as an outage (DependencyUnavailableError)', async () => {
    const { client, calls } = flakyClient(1_000);
    const config = { cassandra: { keyspace: 'ks', readConsistency: 'ONE' } } as AppConfig;
    const walk = new ChangedProfilesWalk(client, config, new InMemoryActivity());
    await expect(collect(walk.byTokenRanges(SINCE, 4))).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(calls()).toBeLessThanOrEqual(5);
  }, 30_000);
});
