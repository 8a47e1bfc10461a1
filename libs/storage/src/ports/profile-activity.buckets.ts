/** What the changed-profiles walk needs of the activity index: one (day, shard) bucket at a time. A port. */
export abstract class ProfileActivityBuckets {
  /** Profiles of one bucket in profile-id order, after `afterProfileId` when given. */
  abstract profilesOfBucket(day: string, shard: number, afterProfileId?: string): AsyncGenerator<string>;
}
