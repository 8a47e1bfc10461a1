import { PartitionEnds } from './partition-ends';

describe('PartitionEnds', () => {
  it('reads nothing of a partition whose end is its start', () => {
    const ends = new PartitionEnds([{ partition: 0, start: '5', end: '5' }]);
    expect(ends.partitions).toEqual([]);
    expect(ends.isComplete()).toBe(true);
  });

  it('raises the end to the high watermark of the first fetch, and only of the first', () => {
    const ends = new PartitionEnds([{ partition: 0, start: '0', end: '12' }]);
    ends.consumed(0, '20');
    expect(ends.endOf(0)).toBe(20n);
    ends.consumed(0, '30', '11');
    expect(ends.endOf(0)).toBe(20n);
    expect(ends.includes(0, '19')).toBe(true);
    expect(ends.includes(0, '20')).toBe(false);
    expect(ends.isComplete()).toBe(false);
  });

  it('never lowers the end', () => {
    const ends = new PartitionEnds([{ partition: 0, start: '0', end: '12' }]);
    ends.consumed(0, '10', '9');
    expect(ends.endOf(0)).toBe(12n);
    expect(ends.isComplete()).toBe(false);
  });

  it('is complete when every partition read was consumed up to its end, markers included', () => {
    const ends = new PartitionEnds([
      { partition: 0, start: '0', end: '3' },
      { partition: 1, start: '2', end: '4' },
    ]);
    ends.consumed(0, '3', '2');
    expect(ends.isComplete()).toBe(false);
    ends.consumed(1, '4', '3');
    expect(ends.isComplete()).toBe(true);
  });

  it('ignores partitions it does not read', () => {
    const ends = new PartitionEnds([{ partition: 0, start: '0', end: '3' }]);
    ends.consumed(1, '9', '8');
    expect(ends.includes(1, '0')).toBe(false);
    expect(ends.isComplete()).toBe(false);
  });
});
