/** What the compaction sweep needs of the live table's partitions: the profiles with old events. A port. */
export abstract class LiveHistoryProfileWalk {
  /** Every profile whose oldest live event is before `instant`, walked in `ranges` token ranges. */
  abstract profilesWithEventsBefore(instant: number, ranges: number): AsyncGenerator<string>;
}
