/**
 * A sealed event whose key is neither current, shredding nor named by the erasure ledger: not an erased one (a
 * keys keyspace restored empty, a wrong PROFILE_KEYS_KEYSPACE would otherwise skip every event, invariant 2).
 * Like a failure to read the keys: the batch waits and is retried, never dead-lettered, never counted erased;
 * a restore refuses to go on.
 */
export class UnknownProfileKeyError extends Error {
  constructor(
    readonly profileId: string,
    readonly keyId: string,
  ) {
    super(
      `key ${keyId} of profile ${profileId} is neither current, shredding nor named by the erasure ledger ` +
        `(keys keyspace restored or PROFILE_KEYS_KEYSPACE wrong?): waiting for it`,
    );
    this.name = 'UnknownProfileKeyError';
  }
}
