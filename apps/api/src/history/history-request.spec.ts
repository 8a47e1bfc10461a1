import fc from 'fast-check';
import { InvalidInputError } from '@vh/domain';
import {
  parseHistoryQuery,
  parseHistoryQueryBySchema,
  parseProfileId,
  parseProfileIdBySchema,
} from './history-request';

const pages = { defaultPageSize: 20, maxPageSize: 200 };

/** What a parse gives: its value, or the fields and messages of its 400. */
function outcome<T>(parse: () => T): unknown {
  try {
    return { value: parse() };
  } catch (error) {
    if (error instanceof InvalidInputError) return { issues: error.issues };
    throw error;
  }
}

// Values a caller may send, the canonical page sizes and every near miss the schema's coercion sees otherwise.
const limitText = fc.oneof(
  fc.integer({ min: -5, max: 250 }).map(String),
  fc.constantFrom(
    '',
    ' 20',
    '20 ',
    '020',
    '2e1',
    '0x14',
    '1.5',
    '20.0',
    '+20',
    '-0',
    '0',
    '1000000',
    'NaN',
    'Infinity',
  ),
  fc.string({ maxLength: 8 }),
);
const queryValue = fc.oneof(limitText, fc.array(limitText, { maxLength: 2 }));
// As Express 5 gives it: an object without a prototype.
const query = fc
  .dictionary(
    fc.constantFrom('limit', 'cursor', 'from', 'to', 'titleId', 'other', '__proto__', 'constructor'),
    queryValue,
    { maxKeys: 3 },
  )
  .map((q) => Object.assign(Object.create(null) as Record<string, unknown>, q));
// Page-size settings as configuration allows them, the default at most the maximum.
const pageSizes = fc
  .tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }))
  .map(([a, b]) => ({ defaultPageSize: Math.min(a, b), maxPageSize: Math.max(a, b) }));

describe('the history request fast path (issue 14: zod on every read cost 2-3% of the API CPU)', () => {
  it('parses any query as the schema does: the same value or the same 400', () => {
    fc.assert(
      fc.property(query, fc.oneof(fc.constant(pages), pageSizes), (q, sizes) => {
        expect(outcome(() => parseHistoryQuery(q, sizes))).toStrictEqual(
          outcome(() => parseHistoryQueryBySchema(q, sizes)),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('parses any profile id as the schema does', () => {
    const id = fc.oneof(
      fc.string({ maxLength: 70 }),
      fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,70}$/),
      fc.constantFrom(undefined, null, 7, ['a'], '', 'a'.repeat(64), 'a'.repeat(65), '.a', 'a b'),
    );
    fc.assert(
      fc.property(id, (v) => {
        expect(outcome(() => parseProfileId(v))).toStrictEqual(outcome(() => parseProfileIdBySchema(v)));
      }),
      { numRuns: 2000 },
    );
  });

  it('takes the common reads without the schema: no query, or a page size in range', () => {
    expect(parseHistoryQuery({}, pages)).toEqual({ limit: 20 });
    expect(parseHistoryQuery({ limit: '200' }, pages)).toEqual({ limit: 200 });
    expect(() => parseHistoryQuery({ limit: '201' }, pages)).toThrow(InvalidInputError);
    expect(parseProfileId('profile-1')).toBe('profile-1');
  });
});
