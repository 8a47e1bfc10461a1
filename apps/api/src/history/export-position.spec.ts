import fc from 'fast-check';
import { InvalidInputError } from '@vh/domain';
import { checkSince, decodePosition, encodePosition, ExportProgress, PositionRules } from './export-position';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const RULES: PositionRules = { now: NOW, indexMaxDays: 30, maxClockSkewMs: 60_000 };

function refusal(token: string, since: number): InvalidInputError | undefined {
  try {
    decodePosition(token, since, RULES);
  } catch (e) {
    if (e instanceof InvalidInputError) return e;
    throw e;
  }
  return undefined;
}

const progress = fc.record({
  since: fc.integer({ min: 0, max: 2 ** 42 }),
  startedAt: fc.integer({ min: 0, max: 2 ** 42 }),
  walk: fc.constantFrom('activity-index' as const, 'token-ranges' as const),
  profileId: fc.string({ minLength: 1, maxLength: 40 }),
  token: fc.bigInt({ min: -(2n ** 63n) + 1n, max: 2n ** 63n - 1n }),
  shard: fc.integer({ min: 0, max: 15 }),
  started: fc.boolean(),
  record: fc.option(fc.record({ lastEventAt: fc.integer({ min: 0, max: 2 ** 42 }), recordId: fc.uuid() })),
  counts: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
});

describe('export position tokens', () => {
  it('decode to the progress they were encoded from', () => {
    fc.assert(
      fc.property(progress, (p) => {
        const value: ExportProgress = {
          since: p.since,
          startedAt: p.startedAt,
          walk: p.walk,
          at: !p.started
            ? null
            : p.walk === 'activity-index'
              ? { walk: p.walk, shard: p.shard, profileId: p.profileId }
              : { walk: p.walk, token: String(p.token), profileId: p.profileId },
          record: p.started ? p.record : null,
          profiles: p.counts[0],
          records: p.counts[1],
          failures: p.counts[2],
        };
        const rules = { now: 2 ** 43, indexMaxDays: 30, maxClockSkewMs: 0 };
        const walk = value.startedAt - value.since <= 30 * DAY ? 'activity-index' : 'token-ranges';
        fc.pre(value.startedAt >= value.since && value.walk === walk);
        expect(decodePosition(encodePosition(value), p.since, rules)).toEqual(value);
      }),
    );
  });

  it('refuses a token of another since, or one it did not write, as invalid input on `after`', () => {
    const token = encodePosition({
      since: 1_000,
      startedAt: 2_000,
      walk: 'token-ranges',
      at: { walk: 'token-ranges', token: '-5', profileId: 'p1' },
      record: null,
      profiles: 1,
      records: 3,
      failures: 0,
    });
    for (const [value, since] of [
      [token, 999],
      ['garbage', 1_000],
      [Buffer.from('[1,1000]').toString('base64url'), 1_000],
      [Buffer.from('{"since":1000}').toString('base64url'), 1_000],
    ] as const) {
      let error: unknown;
      try {
        decodePosition(value, since, RULES);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).issues[0].field).toBe('after');
    }
  });

  it('refuses a crafted token whose instants, shard or walk the export could not have written (a 400, not a long walk)', () => {
    const since = NOW - 3 * DAY;
    const base: ExportProgress = {
      since,
      startedAt: NOW - DAY,
      walk: 'activity-index',
      at: { walk: 'activity-index', shard: 3, profileId: 'p1' },
      record: null,
      profiles: 1,
      records: 1,
      failures: 0,
    };
    expect(refusal(encodePosition(base), since)).toBeUndefined();
    const crafted: ExportProgress[] = [
      // startedAt ~10^8 days ahead: the walk would loop over every day up to it.
      { ...base, startedAt: 8.64e15 },
      { ...base, startedAt: NOW + DAY },
      { ...base, startedAt: since - 1 },
      { ...base, at: { walk: 'activity-index', shard: 16, profileId: 'p1' } },
      { ...base, at: { walk: 'activity-index', shard: -1, profileId: 'p1' } },
      // A token-range export of a recent since, or an activity walk of a since past the index's reach.
      { ...base, walk: 'token-ranges', at: { walk: 'token-ranges', token: '5', profileId: 'p1' } },
    ];
    for (const progress of crafted) {
      expect(refusal(encodePosition(progress), since)?.issues[0].field).toBe('after');
    }
    const old = NOW - 200 * DAY;
    const oldActivity = { ...base, since: old, startedAt: NOW - DAY, at: null };
    expect(refusal(encodePosition(oldActivity), old)?.issues[0].field).toBe('after');
    expect(refusal(encodePosition({ ...oldActivity, walk: 'token-ranges' }), old)).toBeUndefined();
  });

  it('refuses a token of the earlier version (its activity position named a day) and says so', () => {
    const since = NOW - 3 * DAY;
    const v1 = [1, since, NOW - DAY, 'a', ['a', '2026-11-24', 3, 'p1'], null, 1, 1, 0];
    const error = refusal(Buffer.from(JSON.stringify(v1)).toString('base64url'), since);
    expect(error?.issues[0]).toEqual({ field: 'after', message: expect.stringMatching(/earlier version/) });
  });

  it('accepts a start up to the allowed skew ahead of the resuming instance (two instances, two clocks)', () => {
    const since = NOW - 3 * DAY;
    const base: ExportProgress = {
      since,
      startedAt: NOW + RULES.maxClockSkewMs / 2,
      walk: 'activity-index',
      at: null,
      record: null,
      profiles: 0,
      records: 0,
      failures: 0,
    };
    expect(refusal(encodePosition(base), since)).toBeUndefined();
    const beyond = { ...base, startedAt: NOW + RULES.maxClockSkewMs + 1 };
    expect(refusal(encodePosition(beyond), since)?.issues[0].field).toBe('after');
  });

  it('refuses a since in the future when the export begins, naming `since` (no resume of it could pass)', () => {
    expect(() => checkSince(NOW, NOW)).not.toThrow();
    let error: unknown;
    try {
      checkSince(NOW + 1, NOW);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues[0].field).toBe('since');
  });
});
