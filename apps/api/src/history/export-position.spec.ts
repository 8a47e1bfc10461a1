import fc from 'fast-check';
import { InvalidInputError } from '@vh/domain';
import { decodePosition, encodePosition, ExportProgress } from './export-position';

const progress = fc.record({
  since: fc.integer({ min: 0, max: 2 ** 42 }),
  startedAt: fc.integer({ min: 0, max: 2 ** 42 }),
  walk: fc.constantFrom('activity-index' as const, 'token-ranges' as const),
  profileId: fc.string({ minLength: 1, maxLength: 40 }),
  token: fc.bigInt({ min: -(2n ** 63n) + 1n, max: 2n ** 63n - 1n }),
  day: fc.date({ min: new Date('1970-01-01'), max: new Date('2999-12-31') }),
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
              ? { walk: p.walk, day: p.day.toISOString().slice(0, 10), shard: p.shard, profileId: p.profileId }
              : { walk: p.walk, token: String(p.token), profileId: p.profileId },
          record: p.started ? p.record : null,
          profiles: p.counts[0],
          records: p.counts[1],
          failures: p.counts[2],
        };
        expect(decodePosition(encodePosition(value), p.since)).toEqual(value);
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
        decodePosition(value, since);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).issues[0].field).toBe('after');
    }
  });
});
