import { Client } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { createKeyspace } from '@vh/storage';

/**
 * The profile-keys keyspace, apart from the history keyspace (docs/adr/0009). Idempotent statements only.
 * A deleted key must leave the disks soon, not after Cassandra's default 10 days of gc_grace: one day,
 * then the next compaction of the table drops it (the stated bound of an erasure on disk).
 */
export const PROFILE_KEY_GC_GRACE_SECONDS = 86_400;

export async function migrateProfileKeys(
  client: Client,
  config: Pick<AppConfig, 'cassandra' | 'profileKeys'>,
): Promise<{ keyspace: string }> {
  const ks = config.profileKeys.keyspace;
  await createKeyspace(client, ks, config.cassandra);
  // One current key per profile; only ever changed by conditional statements (Paxos), so two collectors
  // creating a profile's first key agree on one, and an erasure deletes exactly the key it read.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_keys (
       profile_id text PRIMARY KEY,
       key_id uuid,
       wrapped_key blob,
       created_at timestamp
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'The data key of each profile, wrapped by the master key; deleted by an erasure.'`,
  );
  // Erased keys in their grace (docs/adr/0009): every row is written with a TTL up to `until`, so Cassandra
  // drops the key's bytes by itself; mark_offset is where the erasure's mark lies in the profile's partition.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.shredding_profile_keys (
       profile_id text,
       key_id uuid,
       wrapped_key blob,
       erasure_id uuid,
       shred_at timestamp,
       mark_offset text,
       PRIMARY KEY ((profile_id), key_id)
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'Erased keys until PROFILE_KEYS_SHREDDING_MS is over: opened only for events after the mark.'`,
  );
  // The erasure ledger: which key each erasure destroyed. Holds no viewing data.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_erasures (
       profile_id text,
       erasure_id uuid,
       key_id uuid,
       erased_at timestamp,
       PRIMARY KEY ((profile_id), erasure_id)
     ) WITH comment = 'Every erasure of a profile and the key it destroyed.'`,
  );
  return { keyspace: ks };
}
