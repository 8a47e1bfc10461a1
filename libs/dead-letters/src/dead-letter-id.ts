import { InvalidInputError } from '@vh/domain';

/**
 * A dead letter is named by where it sits in the dead-letter topic: `partition-offset` (e.g. `0-42`). The
 * topic is append-only, so the name never changes nor is reused; a purged letter's name answers 404.
 */
export interface DeadLetterId {
  partition: number;
  offset: bigint;
}

const ID_PATTERN = /^(\d{1,5})-(\d{1,19})$/;

export function formatDeadLetterId(id: DeadLetterId): string {
  return `${id.partition}-${id.offset}`;
}

export function parseDeadLetterId(text: string, field = 'id'): DeadLetterId {
  const match = ID_PATTERN.exec(text);
  if (!match) {
    throw new InvalidInputError([{ field, message: 'must be a dead letter id: partition-offset, e.g. 0-42' }]);
  }
  return { partition: Number(match[1]), offset: BigInt(match[2]) };
}

/** (partition, offset) order: the order a listing walks and its cursor follows. */
export function compareDeadLetterIds(a: DeadLetterId, b: DeadLetterId): number {
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0;
}

export interface PartitionRange {
  partition: number;
  /** First offset still in the topic (older ones were purged or expired). */
  low: bigint;
  /** The next offset to be written: the range is [low, high). */
  high: bigint;
}

/**
 * Where a listing resumes after `after` (exclusive), per partition: partitions before the cursor's are
 * done, its own resumes past it, later ones start at their low end. Empty ranges are dropped.
 */
export function rangesAfter(partitions: readonly PartitionRange[], after?: DeadLetterId): PartitionRange[] {
  return [...partitions]
    .sort((a, b) => a.partition - b.partition)
    .filter((p) => !after || p.partition >= after.partition)
    .map((p) => {
      const from = after && p.partition === after.partition ? after.offset + 1n : p.low;
      return { partition: p.partition, low: from > p.low ? from : p.low, high: p.high };
    })
    .filter((p) => p.low < p.high);
}
