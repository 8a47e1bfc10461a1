import { InvalidInputError } from '@vh/domain';
import { formatDeadLetterId, parseDeadLetterId, rangesAfter } from './dead-letter-id';

describe('dead letter ids', () => {
  it('round-trips partition-offset, offsets beyond 2^53 included', () => {
    for (const text of ['0-0', '3-42', '0-9007199254740993'])
      expect(formatDeadLetterId(parseDeadLetterId(text))).toBe(text);
  });

  it('refuses anything else as a 400 on the field', () => {
    for (const text of ['', '0', '-1-2', '0-1-2', 'a-1', '0-1 ', '0-01x'])
      expect(() => parseDeadLetterId(text, 'after')).toThrow(InvalidInputError);
  });
});

describe('rangesAfter', () => {
  const partitions = [
    { partition: 1, low: 5n, high: 9n },
    { partition: 0, low: 2n, high: 4n },
    { partition: 2, low: 7n, high: 7n },
  ];

  it('starts every partition at its low end without a cursor, in partition order, empty ones dropped', () => {
    expect(rangesAfter(partitions)).toEqual([
      { partition: 0, low: 2n, high: 4n },
      { partition: 1, low: 5n, high: 9n },
    ]);
  });

  it('resumes past the cursor in its partition and skips the partitions before it', () => {
    expect(rangesAfter(partitions, { partition: 1, offset: 6n })).toEqual([{ partition: 1, low: 7n, high: 9n }]);
    expect(rangesAfter(partitions, { partition: 0, offset: 3n })).toEqual([{ partition: 1, low: 5n, high: 9n }]);
  });

  it('a cursor below the low end (the letters were purged since) resumes at the low end', () => {
    expect(rangesAfter(partitions, { partition: 1, offset: 1n })).toEqual([{ partition: 1, low: 5n, high: 9n }]);
  });
});
