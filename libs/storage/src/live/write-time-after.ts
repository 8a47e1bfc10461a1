import { types } from 'cassandra-driver';

/**
 * The write time a profile's row must carry, or null for the driver's own: one microsecond past
 * `writtenAfterUs`'s date for it (an erasure's tombstone ahead of our clock, AppendOptions), until our clock
 * passes that date, when the driver's default write time is later anyway. One rule for the live rows and the
 * activity-index rows: they must not drift apart against the same tombstone.
 */
export function writeTimeAfter(
  writtenAfterUs: ReadonlyMap<string, number> | undefined,
  profileId: string,
): types.Long | null {
  const after = writtenAfterUs?.get(profileId);
  return after === undefined || after < Date.now() * 1000 ? null : types.Long.fromNumber(after + 1);
}
