/**
 * Where a read of a topic "up to the end it had when reading started" stops, per partition.
 *
 * - The admin's offsets are last stable offsets: they stop before a transaction whose commit the coordinator
 *   has acknowledged but whose markers are not yet written (a repair missed 7 committed events in 2 runs of
 *   5). The first batch fetched of a partition carries its high watermark, which includes it; a read_committed
 *   consumer then waits until every transaction below it is decided. A few messages produced since reading
 *   started may be read too: harmless. (A partition empty by its stable offset is not read at all: a
 *   transaction pending on it when reading started is left out.)
 * - The end is reached by offset, not by a message: transactional producers leave commit and abort markers and
 *   aborted messages that no consumer is given, so a partition may end with nothing a handler ever sees.
 */
export class PartitionEnds {
  private readonly ends = new Map<number, bigint>();
  private readonly fixed = new Set<number>();
  private readonly reached = new Set<number>();

  /** `offsets`: each partition's start (where reading begins) and the admin's end; empty ones are not read. */
  constructor(offsets: readonly { partition: number; start: string; end: string }[]) {
    for (const { partition, start, end } of offsets)
      if (BigInt(end) > BigInt(start)) this.ends.set(partition, BigInt(end));
  }

  get partitions(): number[] {
    return [...this.ends.keys()];
  }

  /** The partition's end (exclusive) as known now; undefined for a partition that is not read. */
  endOf(partition: number): bigint | undefined {
    return this.ends.get(partition);
  }

  /** Whether a message at `offset` of the partition belongs to the read: call `consumed` for its batch first. */
  includes(partition: number, offset: string): boolean {
    const end = this.ends.get(partition);
    return end !== undefined && BigInt(offset) < end;
  }

  /**
   * A batch of the partition was fetched (`highWatermark`, fixing the end at the first one) and, if
   * `lastOffset` is given, consumed up to it: control records included, as kafkajs' `batch.lastOffset()`.
   */
  consumed(partition: number, highWatermark: string, lastOffset?: string): void {
    const end = this.ends.get(partition);
    if (end === undefined) return;
    if (!this.fixed.has(partition)) {
      this.fixed.add(partition);
      if (BigInt(highWatermark) > end) this.ends.set(partition, BigInt(highWatermark));
    }
    if (lastOffset !== undefined && BigInt(lastOffset) + 1n >= this.ends.get(partition)!) this.reached.add(partition);
  }

  isComplete(): boolean {
    return this.reached.size === this.ends.size;
  }
}
