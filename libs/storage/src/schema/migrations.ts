import { Client } from 'cassandra-driver';
import { INDEX_ERASURE_MARKER_TTL_SECONDS, indexDailySweepProfiles } from '../live/profile-activity.index';
/**
 * The Cassandra schema, as an ordered list of versions. A version, once released, never changes:
 * add a new one. Every statement is idempotent, so a migration interrupted half-way can run again.
 */
export interface SchemaMigration {
  version: number;
  description: string;
  statements: (keyspace: string) => string[];
  /** Data the new schema needs from the old, written after the statements; idempotent too. */
  backfill?: (client: Client, keyspace: string) => Promise<unknown>;
}

export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    description: 'live history: one row per event, folded when read',
    statements: (ks) => [
      // One partition per profile; rows ordered by event time so compaction removes a prefix with one
      // range delete. Rows are written blind (no read-before-write) and keyed by eventId: idempotent.
      `CREATE TABLE IF NOT EXISTS ${ks}.live_history (
         profile_id text,
         occurred_at timestamp,
         event_id uuid,
         type text,
         record_id uuid,
         title_id text,
         device_id text,
         position_ms int,
         title_duration_ms int,
         PRIMARY KEY ((profile_id), occurred_at, event_id)
       ) WITH CLUSTERING ORDER BY (occurred_at ASC, event_id ASC)
         AND comment = 'Recent viewing-history events of each profile (the live view); older ones move to compressed_history.'`,
    ],
  },
  {
    version: 2,
    description: 'compressed history: versioned chunk sets behind a metadata row; profile activity index',
    statements: (ks) => [
      // The current version of each profile's compressed history. Only ever changed by a conditional
      // update on the expected version, so two compaction workers cannot both win.
      `CREATE TABLE IF NOT EXISTS ${ks}.compressed_history (
         profile_id text PRIMARY KEY,
         version int,
         chunk_set uuid,
         chunk_count int,
         chunk_checksums list<text>,
         record_count int,
         removed_count int,
         first_started_at timestamp,
         last_event_at timestamp,
         compacted_before timestamp,
         cleared_through timestamp,
         codec text,
         record_encoding text,
         dictionary_id int,
         raw_bytes bigint,
         stored_bytes bigint,
         compacted_at timestamp
       ) WITH comment = 'Metadata of the current compressed version of each profile''s history.'`,
      // Immutable chunks, one partition each so that a version is read in parallel.
      `CREATE TABLE IF NOT EXISTS ${ks}.compressed_history_chunks (
         profile_id text,
         chunk_set uuid,
         chunk_index int,
         data blob,
         PRIMARY KEY ((profile_id, chunk_set, chunk_index))
       ) WITH comment = 'zstd-compressed chunks of compressed history; immutable once written.'`,
      // Every chunk set ever written for a profile, so old and orphaned ones can be found and removed.
      `CREATE TABLE IF NOT EXISTS ${ks}.compressed_history_chunk_sets (
         profile_id text,
         chunk_set uuid,
         chunk_count int,
         created_at timestamp,
         superseded_at timestamp,
         PRIMARY KEY ((profile_id), chunk_set)
       ) WITH comment = 'Chunk sets of each profile, for removal after a grace period.'`,
      // Which profiles received events on which day (by event time), sharded so no bucket grows
      // unbounded: the compaction sweep walks it instead of scanning live_history.
      `CREATE TABLE IF NOT EXISTS ${ks}.profile_activity (
         day date,
         shard int,
         profile_id text,
         PRIMARY KEY ((day, shard), profile_id)
       ) WITH default_time_to_live = 7776000
         AND comment = 'Profiles with events per event day: the compaction candidates index (90-day TTL).'`,
    ],
  },
  {
    version: 3,
    description: 'chunk sets name the version they were meant for; late-activity index and sweep watermark',
    statements: (ks) => [
      // A chunk set written for version N can only become current through the switch from N - 1; once
      // the current version is N or later it never can, and only then is it safe to remove (issue 11 §4).
      `ALTER TABLE ${ks}.compressed_history_chunk_sets ADD IF NOT EXISTS for_version int`,
      // Profiles that received events for an event day the sweep may already have passed (a backfill, a
      // replay, ingest far behind), by the day they arrived: the sweep catches up on them (issue 11 §6).
      `CREATE TABLE IF NOT EXISTS ${ks}.profile_late_activity (
         arrival_day date,
         shard int,
         profile_id text,
         PRIMARY KEY ((arrival_day, shard), profile_id)
       ) WITH default_time_to_live = 7776000
         AND comment = 'Profiles with events of already-swept event days, per arrival day (90-day TTL).'`,
      // How far the scheduled sweep has got: it resumes from here, however long it did not run.
      `CREATE TABLE IF NOT EXISTS ${ks}.compaction_sweeps (
         sweep text PRIMARY KEY,
         event_days_before timestamp,
         arrival_days_before timestamp,
         swept_at timestamp
       ) WITH comment = 'Watermarks of the compaction sweep: event and arrival days it has fully swept.'`,
    ],
  },
  {
    version: 4,
    description: 'acceptance time of live events; trail chunks of compressed history',
    statements: (ks) => [
      // When the service accepted the event: clears are judged on it (one clock, invariant 6).
      `ALTER TABLE ${ks}.live_history ADD IF NOT EXISTS accepted_at timestamp`,
      // Chunks after the first chunk_count of a set hold session trails, read by compaction only.
      `ALTER TABLE ${ks}.compressed_history ADD IF NOT EXISTS trail_chunk_count int`,
    ],
  },
  {
    version: 5,
    description: 'every acceptance of a live event, so a later delivery never hides the first',
    statements: (ks) => [
      // One row per (occurred_at, event_id) kept the last accepted_at written, so a device re-posting an
      // event made the service forget when it first accepted it, and a clear in between was judged on the
      // later one (invariant 1; docs/adr/0007). A set merges every delivery whatever the write order.
      `ALTER TABLE ${ks}.live_history ADD IF NOT EXISTS acceptances set<timestamp>`,
    ],
  },
  {
    version: 6,
    description: 'member controls: settings changes on live rows, settings and titles removed of compressed history',
    statements: (ks) => [
      // A settings-changed row carries the fields it set (a title-removed row uses title_id).
      `ALTER TABLE ${ks}.live_history ADD IF NOT EXISTS recording text`,
      `ALTER TABLE ${ks}.live_history ADD IF NOT EXISTS auto_delete text`,
      // Every settings change and title removal folded so far, as JSON: few per profile, kept whole so a
      // session whose events arrive after compaction is still judged by them (invariant 1).
      `ALTER TABLE ${ks}.compressed_history ADD IF NOT EXISTS member_controls text`,
    ],
  },
  {
    version: 7,
    description: 'chunk index of compressed versions (paged reads decode only the chunks a page needs)',
    statements: (ks) => [
      // Per record chunk its startedAt range, per trail chunk its recordId range (chunk-index.codec.ts).
      `ALTER TABLE ${ks}.compressed_history ADD IF NOT EXISTS chunk_index blob`,
    ],
  },
  {
    version: 8,
    description: 'profiles with auto-delete, for the daily sweep that removes what ages past the period',
    statements: (ks) => [
      // A profile nobody reads had records past its auto-delete period stored until something else brought a
      // compaction (docs/adr/0008). Rows are never removed but by an erasure: a profile that set auto-delete
      // once is visited daily; its compaction decides what, if anything, is past the period.
      `CREATE TABLE IF NOT EXISTS ${ks}.profile_auto_delete (
         shard int,
         profile_id text,
         PRIMARY KEY ((shard), profile_id)
       ) WITH comment = 'Profiles that ever set auto-delete: the first scheduled sweep of each day compacts them.'`,
    ],
  },
  {
    version: 9,
    description: 'profiles whose compressed history set auto-delete before the index existed, indexed',
    // Its own version: keyspaces that applied 8 before the backfill existed get it too.
    statements: () => [],
    backfill: (client, keyspace) => indexDailySweepProfiles(client, keyspace, false),
  },
  {
    version: 10,
    description: 'profiles that paused recording in the daily sweep too, each noted with why',
    // ADR 8: a session a pause hides, first accepted within COMPACTION_MIN_AGE_MS of a compaction, stayed stored
    // (hidden) until a compaction after that age, which nothing asked for on a profile nobody reads.
    statements: (ks) => [`ALTER TABLE ${ks}.profile_auto_delete ADD IF NOT EXISTS reasons set<text>`],
    backfill: (client, keyspace) => indexDailySweepProfiles(client, keyspace),
  },
  {
    version: 11,
    description: 'erasure markers: a remembered index row is trusted only if no erasure deleted it since',
    statements: (ks) => [
      // ADR 9: the previous owner of a partition, stalled in a batch with an erasure mark, could delete the
      // profile's index rows after the new owner wrote them for the new history, and the new owner, remembering
      // them, did not write them again for an hour. Written after each such delete; read every few seconds by
      // every ingest. Ten minutes is ample for that; a short life keeps the partitions small to read. An ingest
      // that read none for half that (no batch, failed reads) trusts nothing it remembers (ProfileActivityIndex).
      `CREATE TABLE IF NOT EXISTS ${ks}.profile_index_erasures (
         shard int,
         profile_id text,
         marker uuid,
         PRIMARY KEY ((shard), profile_id)
       ) WITH default_time_to_live = ${INDEX_ERASURE_MARKER_TTL_SECONDS}
         AND gc_grace_seconds = 3600
         AND comment = 'The last erasure of each profile''s index rows, for ten minutes: remembered rows are written again.'`,
    ],
  },
  {
    version: 12,
    description: 'the daily sweep names the settings it was noted for: resumed and erased profiles leave it',
    // ADR 8: a profile that paused once was compacted daily for good. Ingest and compaction name each pause and
    // each period they note (eventIds); a compaction notes the pauses it finished (`pausesFinishedBy`), and a
    // compaction's note that an erasure overtook marks what it named erased (ADR 9). The sweep visits a profile
    // while a named period is not erased, or a named pause neither finished nor erased. Sets that only grow: no
    // write shadows another by its timestamp (invariant 6).
    statements: (ks) => [
      `ALTER TABLE ${ks}.profile_auto_delete ADD IF NOT EXISTS pauses set<text>`,
      `ALTER TABLE ${ks}.profile_auto_delete ADD IF NOT EXISTS pauses_finished set<text>`,
      `ALTER TABLE ${ks}.profile_auto_delete ADD IF NOT EXISTS periods set<text>`,
      `ALTER TABLE ${ks}.profile_auto_delete ADD IF NOT EXISTS erased set<text>`,
    ],
  },
  {
    version: 13,
    description: "erasures' live tombstones, readable: rows written after an erasure are dated past its tombstone",
    // ADR 9: an erasure deletes a profile's live rows with a tombstone dated at the newest write time it read,
    // perhaps an ingest host's clock ahead of the next one's. No read shows a tombstone's date, so it is written
    // here too (cell dated by itself: the latest wins whatever the order of writes), read by the next erasure at
    // the mark and by every process taking partitions over, which then date that profile's rows past it. By the
    // hour of the tombstone's date: only the hours from now on are ever read (a tombstone behind every clock no
    // longer matters), so the expired rows of past hours are never scanned. A day outlives any skew between hosts.
    // Since session 12 ingest's erasure records the date of its activity-index deletes here (no earlier than the
    // live tombstone), which the rows' writers date past too.
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.live_erasure_tombstones (
         hour bigint,
         profile_id text,
         tombstone_us bigint,
         PRIMARY KEY ((hour), profile_id)
       ) WITH default_time_to_live = 86400
         AND gc_grace_seconds = 3600
         AND comment = 'The dates of erasures'' tombstones of profiles'' live rows, by the hour of the date, for a day.'`,
    ],
  },
];
