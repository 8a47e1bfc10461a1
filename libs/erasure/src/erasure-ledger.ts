import { Inject, Injectable } from '@nestjs/common';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, withStorageErrors } from '@vh/storage';
import { conditionalOptions, readingOptions } from './keys-keyspace.options';

/**
 * The keys a row of the ledger (profile_erasures) names: key_ids, and key_id, the one column processes of the
 * version before region keys write and read (a pre-region key, docs/adr/0012).
 */
export function erasedKeyIds(row: types.Row): string[] {
  const named = ((row.get('key_ids') as unknown[] | null) ?? []).map(String);
  const single = row.get('key_id') as unknown;
  return single === null || single === undefined ? named : [...new Set([String(single), ...named])];
}

/** Where a message lies on the event log. `partition` null: known only as an offset of the profile's partition. */
export interface LogPosition {
  topic: string | null;
  partition: number | null;
  offset: string;
}

/**
 * The one write of `profile_erasure_marks` (the API when it published a mark, ingest when it meets one):
 * conditional, so the first position recorded wins, and Paxos and plain writes never mix on a row (their
 * timestamps come from different clocks).
 */
export function erasureMarkInsert(
  keyspace: string,
  profileId: string,
  erasureId: string,
  at: LogPosition,
): { query: string; params: unknown[] } {
  return {
    query:
      `INSERT INTO ${keyspace}.profile_erasure_marks (profile_id, erasure_id, topic, log_partition, log_offset) ` +
      `VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
    params: [profileId, erasureId, at.topic, at.partition, types.Long.fromString(at.offset)],
  };
}

/** One erasure of a profile as the ledger knows it (docs/adr/0009). */
export interface ErasureRecord {
  erasureId: string;
  /** Its mark's position on the log; null while the mark is not published (or was never recorded). */
  mark: LogPosition | null;
  /**
   * True while the erasure may still leave data stored that it will remove: its key is shredded but its
   * mark is not recorded (the API erases what is stored before it publishes the mark).
   */
  pending: boolean;
}

/**
 * The erasures of a profile and where their marks lie on the log: `profile_erasures` (every erasure),
 * `shredding_profile_keys` (an erasure in progress is there first, and ingest notes the mark's offset on it)
 * and `profile_erasure_marks` (the position the API got back when it published the mark). Holds no viewing data.
 */
@Injectable()
export class ErasureLedger {
  private readonly ks: string;

  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    this.ks = config.profileKeys.keyspace;
  }

  /**
   * Notes where the mark of these erasures lies: the erasure that published it, and the earlier ones of the
   * profile that had no mark yet (a retried erasure: its mark lies after everything they covered).
   */
  async recordMark(profileId: string, erasureIds: readonly string[], at: LogPosition): Promise<void> {
    for (const erasureId of new Set(erasureIds)) {
      const { query, params } = erasureMarkInsert(this.ks, profileId, erasureId, at);
      await withStorageErrors(() => this.client.execute(query, params, conditionalOptions(this.config)));
    }
  }

  /** Every erasure of the profile, oldest knowledge merged: the ledger, the shredding keys, the recorded marks. */
  async erasures(profileId: string): Promise<ErasureRecord[]> {
    const [ledger, shredding, marks] = await withStorageErrors(() =>
      Promise.all([
        this.client.execute(
          `SELECT erasure_id, key_id, key_ids FROM ${this.ks}.profile_erasures WHERE profile_id = ?`,
          [profileId],
          readingOptions(this.config),
        ),
        this.client.execute(
          `SELECT erasure_id, mark_offset FROM ${this.ks}.shredding_profile_keys WHERE profile_id = ?`,
          [profileId],
          readingOptions(this.config),
        ),
        this.client.execute(
          `SELECT erasure_id, topic, log_partition, log_offset FROM ${this.ks}.profile_erasure_marks WHERE profile_id = ?`,
          [profileId],
          readingOptions(this.config),
        ),
      ]),
    );
    return mergeErasures(
      ledger.rows.map((row) => ({
        erasureId: String(row.get('erasure_id')),
        keyIds: erasedKeyIds(row),
      })),
      shredding.rows.map((row) => ({
        erasureId: String(row.get('erasure_id')),
        markOffset: nullableString(row.get('mark_offset')),
      })),
      marks.rows.map((row) => ({
        erasureId: String(row.get('erasure_id')),
        topic: row.get('topic') as string | null,
        partition: row.get('log_partition') as number | null,
        offset: String(row.get('log_offset')),
      })),
    );
  }
}

const nullableString = (value: unknown) => (value === null || value === undefined ? null : String(value));

/**
 * The erasures of a profile from its three tables: the ledger (every erasure and the keys it named), the
 * shredding keys (an erasure in progress is there first, and ingest notes the mark's offset on it) and the
 * recorded marks. Pure, so a unit test's in-memory store answers the same.
 */
export function mergeErasures(
  ledger: readonly { erasureId: string; keyIds: readonly string[] }[],
  shredding: readonly { erasureId: string; markOffset: string | null }[],
  marks: readonly (LogPosition & { erasureId: string })[],
): ErasureRecord[] {
  const recorded = new Map<string, LogPosition>();
  for (const { erasureId, ...at } of marks) recorded.set(erasureId, at);
  const byId = new Map<string, ErasureRecord>();
  for (const { erasureId, markOffset } of shredding) {
    const mark =
      recorded.get(erasureId) ?? (markOffset === null ? null : { topic: null, partition: null, offset: markOffset });
    byId.set(erasureId, { erasureId, mark, pending: mark === null });
  }
  for (const { erasureId, keyIds } of ledger) {
    if (byId.has(erasureId)) continue;
    const mark = recorded.get(erasureId) ?? null;
    // Keys no longer shredding: their grace is over, so its erasure finished long ago (or a retry with another
    // id carries its shredding keys, and is listed above). Without a key, only the mark tells.
    const pending = mark === null && keyIds.length === 0;
    byId.set(erasureId, { erasureId, mark, pending });
  }
  return [...byId.values()];
}
