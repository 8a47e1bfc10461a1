import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, QueryOptions, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import type { LogPartition } from '@vh/messaging';
import { CASSANDRA_CLIENT, consistency, withStorageErrors } from '@vh/storage';
import { conditionalOptions, readingOptions } from './keys-keyspace.options';
import { newDataKey, seal, unseal } from './payload-cipher';
import { UnknownProfileKeyError } from './unknown-profile-key.error';

export interface ProfileKey {
  keyId: string;
  key: Buffer;
}

/**
 * An erased key kept after its erasure (docs/adr/0009) until ShreddingKeySweeper destroys it. `inGrace`: within
 * PROFILE_KEYS_SHREDDING_MS, as the store alone judges it (Cassandra: a cell written USING TTL, written and
 * expired by Cassandra's clock; no service compares its clock with another's, invariant 6). `markOffset` is
 * where the erasure's mark lies in the profile's partition, once ingest met it: only events after the mark open
 * with it. `fence`: the end of the profile's partition read after the grace was over; the key is destroyed once
 * the ingest group has committed past it.
 */
export interface ShreddingKey {
  keyId: string;
  wrapped: Buffer;
  erasureId: string;
  inGrace: boolean;
  markOffset: string | null;
  fence: { partition: number; offset: string } | null;
}

/** Where the wrapped keys live; Cassandra in production, a map in unit tests. */
export abstract class ProfileKeyStore {
  /** The profile's current key, or null (never had one, or erased). */
  abstract read(profileId: string): Promise<{ keyId: string; wrapped: Buffer } | null>;
  /** Stores this key if the profile has none; returns the key that is current afterwards (this one or another's). */
  abstract createIfAbsent(
    profileId: string,
    keyId: string,
    wrapped: Buffer,
  ): Promise<{ keyId: string; wrapped: Buffer }>;
  /** Deletes the key if it is still this one; false if another took its place meanwhile. */
  abstract deleteIf(profileId: string, keyId: string): Promise<boolean>;
  abstract recordErasure(profileId: string, erasureId: string, keyId: string | null, at: number): Promise<void>;
  /** Whether the erasure ledger names this key of the profile as erased. */
  abstract ledgerNames(profileId: string, keyId: string): Promise<boolean>;
  /**
   * Keeps an erased key, in its grace for `graceMs` from now (the store's clock). Conditional: a key already
   * shredding (another erasure moved it first) keeps its row, and only its grace restarts. Returns the erasure
   * that owns the row.
   */
  abstract putShredding(
    profileId: string,
    key: { keyId: string; wrapped: Buffer; erasureId: string },
    graceMs: number,
  ): Promise<string>;
  abstract listShredding(profileId: string): Promise<ShreddingKey[]>;
  /** Every shredding key of every profile (the sweeper's walk). */
  abstract allShredding(): AsyncIterable<ShreddingKey & { profileId: string }>;
  /** Gives an unmarked shredding key of erasure `from` to erasure `to`; false if it is not `from`'s or has a mark. */
  abstract relabel(profileId: string, keyId: string, from: string, to: string): Promise<boolean>;
  /**
   * Starts the key's grace again (from the moment its key left profile_keys), whichever erasure owns it now
   * (a retry may have relabelled it meanwhile), as long as the row exists (a destroyed key stays destroyed).
   */
  abstract restartGrace(profileId: string, keyId: string, graceMs: number): Promise<void>;
  /** Notes where erasure's mark lies, if the key is still that erasure's and has none yet. */
  abstract recordMark(profileId: string, keyId: string, erasureId: string, markOffset: string): Promise<void>;
  /**
   * Notes the key's fence, if the row is still this erasure's and its grace is over (never brings a destroyed
   * row back; a grace a retry restarted wins). False if not written.
   */
  abstract recordFence(
    profileId: string,
    keyId: string,
    erasureId: string,
    fence: { partition: number; offset: string },
  ): Promise<boolean>;
  abstract destroyShredding(profileId: string, keyId: string): Promise<void>;
  /** Notes where an erasure's mark lies (profile_erasure_marks), unless already noted: the first position wins. */
  abstract recordErasureMark(profileId: string, erasureId: string, at: MarkPosition): Promise<void>;
  /** Where the profile's erasures' marks lie, as recorded (by the API or by ingest meeting them). */
  abstract recordedMarks(profileId: string): Promise<(MarkPosition & { erasureId: string })[]>;
}

export interface MarkPosition {
  topic: string;
  partition: number;
  offset: string;
}

const SHREDDING_COLUMNS = 'key_id, wrapped_key, erasure_id, shred_at, mark_offset, fence_partition, fence_offset';

@Injectable()
export class CassandraProfileKeyStore extends ProfileKeyStore {
  private readonly ks: string;
  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    super();
    this.ks = config.profileKeys.keyspace;
  }

  async read(profileId: string) {
    const result = await this.execute(
      `SELECT key_id, wrapped_key FROM ${this.ks}.profile_keys WHERE profile_id = ?`,
      [profileId],
      readingOptions(this.config),
    );
    const row = result.first();
    return row ? { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer } : null;
  }

  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    const result = await this.execute(
      `INSERT INTO ${this.ks}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, keyId, wrapped, new Date()],
      conditionalOptions(this.config),
    );
    const row = result.first();
    if (row.get('[applied]') === true) return { keyId, wrapped };
    return { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer };
  }

  async deleteIf(profileId: string, keyId: string): Promise<boolean> {
    const result = await this.execute(
      `DELETE FROM ${this.ks}.profile_keys WHERE profile_id = ? IF key_id = ?`,
      [profileId, keyId],
      conditionalOptions(this.config),
    );
    return result.first().get('[applied]') === true;
  }

  async recordErasure(profileId: string, erasureId: string, keyId: string | null, at: number): Promise<void> {
    await this.execute(
      `INSERT INTO ${this.ks}.profile_erasures (profile_id, erasure_id, key_id, erased_at) VALUES (?, ?, ?, ?)`,
      [profileId, erasureId, keyId, new Date(at)],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
    );
  }

  async ledgerNames(profileId: string, keyId: string): Promise<boolean> {
    const result = await this.execute(
      `SELECT key_id FROM ${this.ks}.profile_erasures WHERE profile_id = ?`,
      [profileId],
      readingOptions(this.config),
    );
    return result.rows.some((row) => row.get('key_id') !== null && String(row.get('key_id')) === keyId);
  }

  async putShredding(
    profileId: string,
    key: { keyId: string; wrapped: Buffer; erasureId: string },
    graceMs: number,
  ): Promise<string> {
    // The grace is a cell Cassandra expires by itself (TTL): the clock that writes it is the one that judges it.
    // shred_at's value (this process's estimate of the end) is for operators only; nothing compares it.
    const grace = this.graceStatement(profileId, key.keyId, graceMs);
    const result = await this.batch(
      [
        {
          query: `INSERT INTO ${this.ks}.shredding_profile_keys (profile_id, key_id, wrapped_key, erasure_id) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
          params: [profileId, key.keyId, key.wrapped, key.erasureId],
        },
        grace,
      ],
      conditionalOptions(this.config),
    );
    const row = result.first();
    if (row.get('[applied]') === true) return key.erasureId;
    const owner = String(row.get('erasure_id'));
    // The key was current when this erasure read it: its grace counts from now (collectors may have cached it).
    await this.execute(`${grace.query} IF erasure_id = ?`, [...grace.params, owner], conditionalOptions(this.config));
    return owner;
  }

  async listShredding(profileId: string): Promise<ShreddingKey[]> {
    const result = await this.execute(
      `SELECT ${SHREDDING_COLUMNS} FROM ${this.ks}.shredding_profile_keys WHERE profile_id = ?`,
      [profileId],
      readingOptions(this.config),
    );
    return result.rows.map((row) => shreddingKey(row));
  }

  async *allShredding(): AsyncIterable<ShreddingKey & { profileId: string }> {
    let pageState: string | undefined;
    do {
      const result = await this.execute(
        `SELECT profile_id, ${SHREDDING_COLUMNS} FROM ${this.ks}.shredding_profile_keys`,
        [],
        { ...readingOptions(this.config), fetchSize: 500, pageState },
      );
      for (const row of result.rows) yield { profileId: String(row.get('profile_id')), ...shreddingKey(row) };
      pageState = result.pageState ?? undefined;
    } while (pageState);
  }

  async relabel(profileId: string, keyId: string, from: string, to: string): Promise<boolean> {
    const result = await this.execute(
      `UPDATE ${this.ks}.shredding_profile_keys SET erasure_id = ? WHERE profile_id = ? AND key_id = ? IF erasure_id = ? AND mark_offset = null`,
      [to, profileId, keyId, from],
      conditionalOptions(this.config),
    );
    return result.first().get('[applied]') === true;
  }

  async recordMark(profileId: string, keyId: string, erasureId: string, markOffset: string): Promise<void> {
    // Conditional: a destroyed row is not brought back as a row holding an offset only, and a key a retried
    // erasure relabelled meanwhile waits for that erasure's mark.
    await this.execute(
      `UPDATE ${this.ks}.shredding_profile_keys SET mark_offset = ? WHERE profile_id = ? AND key_id = ? IF erasure_id = ? AND mark_offset = null`,
      [markOffset, profileId, keyId, erasureId],
      conditionalOptions(this.config),
    );
  }

  async recordFence(
    profileId: string,
    keyId: string,
    erasureId: string,
    fence: { partition: number; offset: string },
  ): Promise<boolean> {
    const result = await this.execute(
      `UPDATE ${this.ks}.shredding_profile_keys SET fence_partition = ?, fence_offset = ? WHERE profile_id = ? AND key_id = ? IF erasure_id = ? AND shred_at = null`,
      [fence.partition, fence.offset, profileId, keyId, erasureId],
      conditionalOptions(this.config),
    );
    return result.first().get('[applied]') === true;
  }

  async destroyShredding(profileId: string, keyId: string): Promise<void> {
    // Conditional like every other write of the row: a plain DELETE carries the client's timestamp, the row's
    // cells Paxos ballots' (the coordinator's clock); a client clock behind left them newer than the tombstone.
    await this.execute(
      `DELETE FROM ${this.ks}.shredding_profile_keys WHERE profile_id = ? AND key_id = ? IF EXISTS`,
      [profileId, keyId],
      conditionalOptions(this.config),
    );
  }

  async recordErasureMark(profileId: string, erasureId: string, at: MarkPosition): Promise<void> {
    await this.execute(
      `INSERT INTO ${this.ks}.profile_erasure_marks (profile_id, erasure_id, topic, log_partition, log_offset) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, erasureId, at.topic, at.partition, types.Long.fromString(at.offset)],
      conditionalOptions(this.config),
    );
  }

  async recordedMarks(profileId: string): Promise<(MarkPosition & { erasureId: string })[]> {
    const result = await this.execute(
      `SELECT erasure_id, topic, log_partition, log_offset FROM ${this.ks}.profile_erasure_marks WHERE profile_id = ?`,
      [profileId],
      readingOptions(this.config),
    );
    return result.rows.map((row) => ({
      erasureId: String(row.get('erasure_id')),
      topic: row.get('topic') as string,
      partition: row.get('log_partition') as number,
      offset: String(row.get('log_offset')),
    }));
  }

  async restartGrace(profileId: string, keyId: string, graceMs: number): Promise<void> {
    const grace = this.graceStatement(profileId, keyId, graceMs);
    await this.execute(`${grace.query} IF EXISTS`, grace.params, conditionalOptions(this.config));
  }

  private graceStatement(profileId: string, keyId: string, graceMs: number) {
    return {
      query: `UPDATE ${this.ks}.shredding_profile_keys USING TTL ? SET shred_at = ? WHERE profile_id = ? AND key_id = ?`,
      params: [Math.max(1, Math.ceil(graceMs / 1000)), new Date(Date.now() + graceMs), profileId, keyId] as unknown[],
    };
  }

  // The cluster's failures are DependencyUnavailableError (503 with Retry-After), never internal errors: an
  // erasure during a Cassandra outage answered 500 (chaos seed 21).
  private execute(query: string, params: unknown[], options: QueryOptions) {
    return withStorageErrors(() => this.client.execute(query, params, options));
  }

  private batch(queries: { query: string; params: unknown[] }[], options: QueryOptions) {
    return withStorageErrors(() => this.client.batch(queries, options));
  }
}

function shreddingKey(row: types.Row): ShreddingKey {
  const fenceOffset = row.get('fence_offset') as string | null;
  return {
    keyId: String(row.get('key_id')),
    wrapped: row.get('wrapped_key') as Buffer,
    erasureId: String(row.get('erasure_id')),
    inGrace: row.get('shred_at') !== null,
    markOffset: row.get('mark_offset') === null ? null : String(row.get('mark_offset')),
    fence: fenceOffset === null ? null : { partition: Number(row.get('fence_partition')), offset: fenceOffset },
  };
}

/**
 * Each profile's data key (crypto-shredding, docs/adr/0009): created on the profile's first sealed event,
 * wrapped by the master key at rest. An erasure moves it to "shredding": never used to seal again, opened only
 * for events after the erasure's mark (a collector's cached copy); once PROFILE_KEYS_SHREDDING_MS is over and
 * ingest has committed past every event that could carry it, ShreddingKeySweeper destroys it, and every copy
 * of the profile's events sealed with it (the log, a backup) is unreadable.
 * Kept in memory for PROFILE_KEYS_CACHE_MS at most.
 */
@Injectable()
export class ProfileKeys {
  private readonly cache = new Map<string, { key: ProfileKey; until: number }>();
  private readonly masterKey: Buffer;
  private readonly cacheMs: number;
  private readonly shreddingMs: number;

  constructor(
    private readonly store: ProfileKeyStore,
    config: AppConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.masterKey = config.profileKeys.masterKey;
    this.cacheMs = config.profileKeys.cacheMs;
    this.shreddingMs = config.profileKeys.shreddingMs;
  }

  /** The key to seal a profile's new events with: its current one, created when it has none. */
  async current(profileId: string): Promise<ProfileKey> {
    const cached = this.cached(profileId);
    if (cached) return cached;
    const stored = (await this.store.read(profileId)) ?? (await this.create(profileId));
    return this.remember(profileId, this.unwrap(profileId, stored));
  }

  /** The profile's current key read from the store (not the cache), or null: never creates one (backup). */
  async existing(profileId: string): Promise<ProfileKey | null> {
    const stored = await this.store.read(profileId);
    return stored ? this.unwrap(profileId, stored) : null;
  }

  /** The key with this id, or null once it is erased (or never was the profile's). */
  async byId(profileId: string, keyId: string): Promise<Buffer | null> {
    const cached = this.cached(profileId);
    if (cached?.keyId === keyId) return cached.key;
    const stored = await this.store.read(profileId);
    if (!stored) return null;
    const key = this.remember(profileId, this.unwrap(profileId, stored));
    return key.keyId === keyId ? key.key : null;
  }

  /**
   * The key a backup line was sealed with, for a restore: null once an erasure names it (shredding or
   * destroyed: the profile was erased after the backup, so restoring it would bring it back). A key nobody
   * knows is not "erased" (a keys keyspace restored empty would leave every profile out): it throws.
   */
  async forRestore(profileId: string, keyId: string): Promise<Buffer | null> {
    const current = await this.byId(profileId, keyId);
    if (current) return current;
    if (await this.shredding(profileId, keyId)) return null;
    if (await this.erasedByLedger(profileId, keyId)) return null;
    throw new UnknownProfileKeyError(profileId, keyId);
  }

  /**
   * An erased key not yet destroyed, if this is one, and where its erasure's mark lies (null: not met yet).
   * Its grace does not matter here: a lagging ingest opens events after the mark with it until the sweeper
   * destroys it, which waits for ingest (ShreddingKeySweeper). No clock is read (invariant 6).
   */
  async shredding(
    profileId: string,
    keyId: string,
  ): Promise<{ key: Buffer; erasureId: string; markOffset: string | null } | null> {
    const found = (await this.store.listShredding(profileId)).find((k) => k.keyId === keyId);
    if (!found) return null;
    return { key: this.unwrap(profileId, found).key, erasureId: found.erasureId, markOffset: found.markOffset };
  }

  /** Whether an erasure destroyed this key: the ledger names it (its shredding row may be gone already). */
  erasedByLedger(profileId: string, keyId: string): Promise<boolean> {
    return this.store.ledgerNames(profileId, keyId);
  }

  /**
   * Notes where an erasure's mark lies in the profile's partition: events after it open with the old key. With
   * the partition (ingest), in the ledger too: an erasure whose API died before recording its mark, or that had
   * no key, is then no longer "in progress" (backups, re-drive). `covers`: the earlier erasures the mark bounds
   * too (its erasure took them over, or they had no mark): the same for each, so one whose retry died before
   * recording the mark is not finished again, and a key one of them moved back (a stalled process's last write
   * after the take-over) is bounded by this mark rather than kept for good.
   */
  async markMet(
    profileId: string,
    erasureId: string,
    offset: string,
    at?: LogPartition,
    covers: readonly string[] = [],
  ): Promise<void> {
    const ids = new Set([erasureId, ...covers]);
    if (at) for (const id of ids) await this.store.recordErasureMark(profileId, id, { ...at, offset });
    for (const k of await this.store.listShredding(profileId)) {
      if (ids.has(k.erasureId) && k.markOffset === null) {
        await this.store.recordMark(profileId, k.keyId, k.erasureId, offset);
      }
    }
  }

  /**
   * Where the profile's erasures' marks lie, as far as known: recorded in the ledger, or met by ingest on a
   * shredding key (topic and partition null: the profile's partition of the event log).
   */
  async marksOf(profileId: string): Promise<{ topic: string | null; partition: number | null; offset: string }[]> {
    const [recorded, shredding] = await Promise.all([
      this.store.recordedMarks(profileId),
      this.store.listShredding(profileId),
    ]);
    return [
      ...recorded,
      ...shredding.flatMap((k) =>
        k.markOffset === null ? [] : [{ topic: null, partition: null, offset: k.markOffset }],
      ),
    ];
  }

  /**
   * Moves the profile's key to shredding (see the class comment) and notes the erasure. Idempotent: erasing a
   * profile without a key notes it only. Safe to run twice at once (a retry after a timeout, two callers): every
   * change of a key's row is conditional (Paxos), so the first erasure that moved a key keeps it.
   * `hold` runs before each change of a key (ProfileErasure renews its lease there): a process that stalled
   * past its lease, and was taken over meanwhile, stops before it shreds the key of the history that followed.
   */
  async erase(
    profileId: string,
    erasureId: string = randomUUID(),
    at = this.now(),
    hold: () => Promise<void> = async () => undefined,
  ): Promise<{ erasedKeyId: string | null }> {
    this.forget(profileId);
    // A retried erasure (its first mark may never have been published): keys an earlier erasure shredded whose
    // mark ingest has not met take this erasure's id, so this mark bounds them too. Whatever lies before this
    // mark in the log is before this erasure, so nothing that should open is dropped by the later boundary.
    // Whatever their grace: a key past it whose mark nobody met would otherwise never get one (review, session
    // 6). An earlier attempt still running publishes a mark ingest then passes by: this one's mark, later in
    // the log, bounds the key, and what lies between was sealed before this erasure, which erases it.
    // Conditional: a mark met meanwhile, or another retry that relabelled first, wins.
    for (const k of await this.store.listShredding(profileId)) {
      if (k.markOffset === null && k.erasureId !== erasureId) {
        await hold();
        // Its grace starts again too: an attempt that deleted the key and died before restarting its grace
        // (below) left it counted from the move (review, session 6).
        if (await this.store.relabel(profileId, k.keyId, k.erasureId, erasureId)) {
          await this.store.restartGrace(profileId, k.keyId, this.shreddingMs);
        }
      }
    }
    let named: string | null = null;
    for (;;) {
      const stored = await this.store.read(profileId);
      if (!stored) {
        // A key this call named stays named: another erasure deleted it first, but this one shredded it too.
        await this.store.recordErasure(profileId, erasureId, named, at);
        return { erasedKeyId: named };
      }
      // A key created between the read and the delete (a new session) is shredded on the next turn. Shredding
      // first: a crash between the two leaves the key current (the caller retries), never lost early. The
      // ledger names the key before it is deleted: a key gone from profile_keys is always named (ADR 9).
      await hold();
      const owner = await this.store.putShredding(
        profileId,
        { keyId: stored.keyId, wrapped: stored.wrapped, erasureId },
        this.shreddingMs,
      );
      // An earlier attempt shredded this key and stopped before deleting it: this erasure's mark must bound it.
      if (owner !== erasureId) await this.store.relabel(profileId, stored.keyId, owner, erasureId);
      named = stored.keyId;
      await this.store.recordErasure(profileId, erasureId, named, at);
      if (await this.store.deleteIf(profileId, stored.keyId)) {
        // Collectors may seal with a cached copy for PROFILE_KEYS_CACHE_MS after the delete, however long this
        // call stalled before it: the grace counts from here (review, session 6). A crash before this line
        // leaves the grace counted from the move, 24 h by default.
        await this.store.restartGrace(profileId, stored.keyId, this.shreddingMs);
        this.forget(profileId);
        return { erasedKeyId: stored.keyId };
      }
    }
  }

  forget(profileId: string): void {
    this.cache.delete(profileId);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  private async create(profileId: string): Promise<{ keyId: string; wrapped: Buffer }> {
    const keyId = randomUUID();
    return this.store.createIfAbsent(profileId, keyId, this.wrap(profileId, keyId, newDataKey()));
  }

  private wrap(profileId: string, keyId: string, key: Buffer): Buffer {
    return seal(this.masterKey, key, `profile-key\n${profileId}\n${keyId}`);
  }

  private unwrap(profileId: string, stored: { keyId: string; wrapped: Buffer }): ProfileKey {
    return {
      keyId: stored.keyId,
      key: unseal(this.masterKey, stored.wrapped, `profile-key\n${profileId}\n${stored.keyId}`),
    };
  }

  private cached(profileId: string): ProfileKey | null {
    const entry = this.cache.get(profileId);
    if (!entry) return null;
    if (entry.until <= this.now()) {
      this.cache.delete(profileId);
      return null;
    }
    return entry.key;
  }

  private remember(profileId: string, key: ProfileKey): ProfileKey {
    if (this.cacheMs > 0) {
      // Bounded: a collector sees many profiles; expired entries go first, then the oldest.
      if (this.cache.size >= 100_000) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(profileId, { key, until: this.now() + this.cacheMs });
    }
    return key;
  }
}
