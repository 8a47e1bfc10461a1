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
  // Each region's key of each profile (docs/adr/0012): a region creates only its own datacenter's row, IF NOT
  // EXISTS at LOCAL_SERIAL, so two collectors of a region agree on one key, and two regions cut apart each keep
  // theirs. Only ever changed by conditional statements (Paxos): an erasure deletes exactly the key it read.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_region_keys (
       profile_id text,
       datacenter text,
       key_id uuid,
       wrapped_key blob,
       created_at timestamp,
       PRIMARY KEY ((profile_id), datacenter)
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'Each region''s data key of each profile, wrapped by the master key; deleted by an erasure.'`,
  );
  // The profiles' pre-region keys, one per profile as before region keys: never created nor sealed with by this
  // version, still read (they open) and erased. Processes of the old version create keys here until they are
  // stopped (the upgrade stops them all first: docs/operations.md), even after this migration ran.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_keys (
       profile_id text PRIMARY KEY,
       key_id uuid,
       wrapped_key blob,
       created_at timestamp
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'The data key of each profile, wrapped by the master key; deleted by an erasure.'`,
  );
  // Erased keys until ShreddingKeySweeper destroys them (docs/adr/0009): shred_at alone is written with a TTL
  // (PROFILE_KEYS_SHREDDING_MS), so Cassandra's clock alone ends the grace; mark_offset is where the erasure's
  // mark lies in the profile's partition; the fence is the partition's end after the grace: the key goes once
  // the ingest group committed past it.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.shredding_profile_keys (
       profile_id text,
       key_id uuid,
       wrapped_key blob,
       erasure_id uuid,
       shred_at timestamp,
       mark_offset text,
       fence_partition int,
       fence_offset text,
       PRIMARY KEY ((profile_id), key_id)
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'Erased keys until ingest is past them: opened only for events after the mark.'`,
  );
  // A current key's bounds (ProfileKeys.boundByMark), `topic/partition` → offset: there it opens only messages past
  // the offset, the latest mark of an erasure that ran while the key was created (ADR 9, step 3).
  for (const table of ['profile_region_keys', 'profile_keys']) {
    await client.execute(`ALTER TABLE ${ks}.${table} ADD IF NOT EXISTS opens_after_marks map<text, bigint>`);
  }
  for (const column of ['fence_partition int', 'fence_offset text']) {
    await client.execute(`ALTER TABLE ${ks}.shredding_profile_keys ADD IF NOT EXISTS ${column}`);
  }
  // The erasure ledger: which keys each erasure destroyed (key_ids; key_id, the one column processes of the old
  // version read, names the pre-region key if there was one). Holds no viewing data.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_erasures (
       profile_id text,
       erasure_id uuid,
       key_id uuid,
       erased_at timestamp,
       PRIMARY KEY ((profile_id), erasure_id)
     ) WITH comment = 'Every erasure of a profile and the keys it destroyed.'`,
  );
  await client.execute(`ALTER TABLE ${ks}.profile_erasures ADD IF NOT EXISTS key_ids set<uuid>`);
  // Where each erasure's mark lies on the log, written once the mark is published (after the stored history
  // was erased): log order tells a dead letter or a backup that precedes the erasure, no clock (invariant 6).
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_erasure_marks (
       profile_id text,
       erasure_id uuid,
       topic text,
       log_partition int,
       log_offset bigint,
       PRIMARY KEY ((profile_id), erasure_id)
     ) WITH comment = 'The log position of each erasure mark: a dead letter or a backup before it is erased.'`,
  );
  // Erasures under way, until each has put its mark: `lease` alone is written with a TTL
  // (PROFILE_ERASURE_LEASE_MS), so Cassandra's clock alone says an erasure was abandoned; `owner` is the erasure
  // carrying it out (itself, or a retry that took it over); the fence is the end of the profile's partition read
  // once the lease ran out: ingest past it without meeting a mark means none was put. Every write is conditional.
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.profile_erasures_in_progress (
       profile_id text,
       erasure_id uuid,
       owner uuid,
       started_at timestamp,
       lease timestamp,
       fence_partition int,
       fence_offset text,
       PRIMARY KEY ((profile_id), erasure_id)
     ) WITH gc_grace_seconds = ${PROFILE_KEY_GC_GRACE_SECONDS}
       AND comment = 'Erasures not finished yet: one whose lease ran out without its mark is finished by ingest.'`,
  );
  return { keyspace: ks };
}
