import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, QueryOptions, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import type { LogPartition } from '@vh/messaging';
import { CASSANDRA_CLIENT, consistency, isUndefinedColumnError, withStorageErrors } from '@vh/storage';
import { conditionalOptions, readingOptions } from './keys-keyspace.options';
import { newDataKey, seal, unseal } from './payload-cipher';
import { UnknownProfileKeyError } from './unknown-profile-key.error';
import { erasedKeyIds, erasureMarkInsert } from './erasure-ledger';

export interface ProfileKey {
  keyId: string;
  key: Buffer;
  /**
   * Set by erasures whose marks lie after the key's creation, one a partition (the latest mark there): in a
   * mark's topic and partition, it opens only messages past the mark's offset. A key created while an erasure ran
   * stays current (it is usually the new history's) and what it sealed before the mark stays erased. Elsewhere
   * (partitions added since, a message without a position) it opens everything. Empty: no bound.
   */
  opensAfter: readonly MarkPosition[];
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

/** A profile's data key as stored: wrapped by the master key. */
export interface StoredProfileKey {
  keyId: string;
  wrapped: Buffer;
  /** See ProfileKey.opensAfter. */
  opensAfter: readonly MarkPosition[];
}

/**
 * A current key of a profile and where it is kept: the row of a region (`datacenter`, its CASSANDRA_LOCAL_DC)
 * in profile_region_keys, or the profile's pre-region key, its row in profile_keys (`datacenter` null; one key
 * per profile, as before region keys; docs/adr/0012).
 */
export interface CurrentProfileKey extends StoredProfileKey {
  datacenter: string | null;
}

/** Where the wrapped keys live; Cassandra in production, a map in unit tests. */
export abstract class ProfileKeyStore {
  /** The datacenter of this store's region: the only region key it creates. */
  abstract readonly datacenter: string;
  /**
   * Every current key of the profile (each region's and its pre-region key); none: never had one, or erased.
   * `serial`: a Paxos read (LOCAL_SERIAL), which completes a key's `IF NOT EXISTS` insert still in flight first;
   * the erasure's reads, so no key acknowledged to its creator escapes them.
   */
  abstract read(profileId: string, options?: { serial?: boolean }): Promise<CurrentProfileKey[]>;
  /**
   * Stores this key as this region's key of the profile if the region has none; returns the region's key
   * afterwards (this one, or another writer's of the same region).
   */
  abstract createIfAbsent(profileId: string, keyId: string, wrapped: Buffer): Promise<StoredProfileKey>;
  /**
   * Bounds a current key by an erasure's mark: in the mark's partition it opens only messages past it from then
   * on. Conditional on the row still holding this key (never brings a deleted key back) and on no later bound of
   * the same partition being there already (bounds only grow: a stalled erasure's late bound never reopens what a
   * later erasure's bound hides); the bounds of other partitions stay, each its own. Nothing while `migrate` has
   * not added the column (the key stays unbounded, as an older build leaves it), rather than failing.
   */
  abstract bound(
    profileId: string,
    key: { keyId: string; datacenter: string | null },
    mark: MarkPosition,
  ): Promise<void>;
  /** Deletes the row if it still holds this key; false if another took its place meanwhile, or it is gone. */
  abstract deleteIf(profileId: string, key: { keyId: string; datacenter: string | null }): Promise<boolean>;
  /** Notes the erasure and every key it shredded (none: the profile had no key); a key once named stays named. */
  abstract recordErasure(
    profileId: string,
    erasureId: string,
    keys: readonly { keyId: string; datacenter: string | null }[],
    at: number,
  ): Promise<void>;
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
   * Starts the key's grace again (from the moment its key stopped being current), whichever erasure owns it now
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

/**
 * The keys in Cassandra. A region creates, and seals with, only its own datacenter's row of
 * profile_region_keys (IF NOT EXISTS at LOCAL_SERIAL: only that region's writers ever create it, so its own
 * datacenter's Paxos is enough, and a region cut off from the others still takes new profiles); every
 * region's row opens. profile_keys, the profiles' pre-region keys, is still read and erased: keys created
 * by processes of the version before region keys (docs/adr/0012).
 */
@Injectable()
export class CassandraProfileKeyStore extends ProfileKeyStore {
  readonly datacenter: string;
  private readonly ks: string;
  constructor(
    @Inject(CASSANDRA_CLIENT) private readonly client: Client,
    private readonly config: AppConfig,
  ) {
    super();
    this.ks = config.profileKeys.keyspace;
    this.datacenter = config.cassandra.localDataCenter;
  }

  async read(profileId: string, options: { serial?: boolean } = {}): Promise<CurrentProfileKey[]> {
    // Serial: a collector's insert whose Paxos commit is still in flight is completed by this read, not missed
    // (both tables: old collectors create pre-region keys IF NOT EXISTS too).
    const reading = options.serial
      ? { prepare: true, consistency: types.consistencies.localSerial }
      : readingOptions(this.config);
    const [regional, preRegion] = await withoutColumnIfUnmigrated(`, ${BOUNDS}`, (bounds) =>
      Promise.all([
        this.execute(
          `SELECT datacenter, key_id, wrapped_key${bounds} FROM ${this.ks}.profile_region_keys WHERE profile_id = ?`,
          [profileId],
          reading,
        ),
        this.execute(
          `SELECT key_id, wrapped_key${bounds} FROM ${this.ks}.profile_keys WHERE profile_id = ?`,
          [profileId],
          reading,
        ),
      ]),
    );
    return [
      ...regional.rows.map((row) => ({ datacenter: row.get('datacenter') as string, ...storedKey(row) })),
      ...preRegion.rows.map((row) => ({ datacenter: null, ...storedKey(row) })),
    ];
  }

  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer): Promise<StoredProfileKey> {
    const result = await this.execute(
      `INSERT INTO ${this.ks}.profile_region_keys (profile_id, datacenter, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, this.datacenter, keyId, wrapped, new Date()],
      conditionalOptions(this.config),
    );
    const row = result.first();
    return row.get('[applied]') === true ? { keyId, wrapped, opensAfter: [] } : storedKey(row);
  }

  async bound(profileId: string, key: { keyId: string; datacenter: string | null }, mark: MarkPosition): Promise<void> {
    const [table, where, params] =
      key.datacenter === null
        ? ['profile_keys', 'profile_id = ?', [profileId]]
        : ['profile_region_keys', 'profile_id = ? AND datacenter = ?', [profileId, key.datacenter]];
    const offset = types.Long.fromString(mark.offset);
    const entry = boundEntry(mark);
    const set = `UPDATE ${this.ks}.${table} SET ${BOUNDS}[?] = ? WHERE ${where}`;
    const values = [entry, offset, ...params, key.keyId, entry];
    try {
      // Two conditions, since one cannot say "none, or lower": none yet in this partition, else a lower one.
      const none = await this.execute(
        `${set} IF key_id = ? AND ${BOUNDS}[?] = null`,
        values,
        conditionalOptions(this.config),
      );
      const row = none.first();
      if (row.get('[applied]') === true) return;
      // Gone, replaced, or bounded at this mark or a later one of this partition already: nothing to do.
      const present = row.get('key_id');
      if (present === null || present === undefined || String(present) !== key.keyId) return;
      const bound = (row.get(BOUNDS) as Record<string, types.Long> | null)?.[entry];
      if (bound === undefined || bound.greaterThanOrEqual(offset)) return;
      await this.execute(
        `${set} IF key_id = ? AND ${BOUNDS}[?] < ?`,
        [...values, offset],
        conditionalOptions(this.config),
      );
    } catch (error) {
      if (!isUndefinedColumnError(error)) throw error;
    }
  }

  async deleteIf(profileId: string, key: { keyId: string; datacenter: string | null }): Promise<boolean> {
    // LOCAL_SERIAL for every region's row: erasure runs only while the keyspaces live in one datacenter (ADR 12,
    // known gaps); across regions another region's row would need SERIAL.
    const result =
      key.datacenter === null
        ? await this.execute(
            `DELETE FROM ${this.ks}.profile_keys WHERE profile_id = ? IF key_id = ?`,
            [profileId, key.keyId],
            conditionalOptions(this.config),
          )
        : await this.execute(
            `DELETE FROM ${this.ks}.profile_region_keys WHERE profile_id = ? AND datacenter = ? IF key_id = ?`,
            [profileId, key.datacenter, key.keyId],
            conditionalOptions(this.config),
          );
    return result.first().get('[applied]') === true;
  }

  async recordErasure(
    profileId: string,
    erasureId: string,
    keys: readonly { keyId: string; datacenter: string | null }[],
    at: number,
  ): Promise<void> {
    // key_ids grows only (a set's union): whatever a call named stays named, even if calls overlap. key_id, the
    // one column processes of the version before region keys read, names the pre-region key when there was
    // one: the only kind of key they know (their ingest asks whether the ledger names it).
    const single = keys.find((k) => k.datacenter === null) ?? keys[0];
    await this.execute(
      `UPDATE ${this.ks}.profile_erasures SET key_id = ?, key_ids = key_ids + ?, erased_at = ? WHERE profile_id = ? AND erasure_id = ?`,
      [single?.keyId ?? null, keys.map((k) => k.keyId), new Date(at), profileId, erasureId],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
    );
  }

  async ledgerNames(profileId: string, keyId: string): Promise<boolean> {
    const result = await this.execute(
      `SELECT key_id, key_ids FROM ${this.ks}.profile_erasures WHERE profile_id = ?`,
      [profileId],
      readingOptions(this.config),
    );
    return result.rows.some((row) => erasedKeyIds(row).includes(keyId));
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
    const { query, params } = erasureMarkInsert(this.ks, profileId, erasureId, at);
    await this.execute(query, params, conditionalOptions(this.config));
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

/** The column of a key's bounds: the latest erasure mark of each topic and partition (`topic/partition`). */
const BOUNDS = 'opens_after_marks';

/** Kafka topic names hold no '/': the partition is what follows the last one. */
const boundEntry = (mark: { topic: string; partition: number }) => `${mark.topic}/${mark.partition}`;

function storedKey(row: types.Row): StoredProfileKey {
  const bounds = (row.get(BOUNDS) as Record<string, types.Long> | null | undefined) ?? {};
  return {
    keyId: String(row.get('key_id')),
    wrapped: row.get('wrapped_key') as Buffer,
    opensAfter: Object.entries(bounds).map(([entry, offset]) => {
      const at = entry.lastIndexOf('/');
      return { topic: entry.slice(0, at), partition: Number(entry.slice(at + 1)), offset: offset.toString() };
    }),
  };
}

/**
 * Reads with the column, and again without it while `migrate` has not added it (deployed before it): decided on
 * every read, not remembered, since a node may answer so only until it has seen the migration.
 */
async function withoutColumnIfUnmigrated<T>(column: string, read: (column: string) => Promise<T>): Promise<T> {
  try {
    return await read(column);
  } catch (error) {
    if (!isUndefinedColumnError(error)) throw error;
    return read('');
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
 * Each profile's data keys (crypto-shredding, docs/adr/0009): a region creates its own key of the profile on
 * the first event it seals for it and seals with that one only (docs/adr/0012: two regions cut apart each
 * create one, and neither may replace the other's); any region's key, and the profile's pre-region key, opens.
 * Wrapped by the master key at rest. An erasure moves every key of the profile to "shredding": never used to
 * seal again, opened only for events after the erasure's mark (a collector's cached copy); once
 * PROFILE_KEYS_SHREDDING_MS is over and ingest has committed past every event that could carry it,
 * ShreddingKeySweeper destroys it, and every copy of the profile's events sealed with it (the log, a backup) is
 * unreadable.
 * Kept in memory for PROFILE_KEYS_CACHE_MS at most.
 */
@Injectable()
export class ProfileKeys {
  private readonly cache = new Map<string, { keys: ProfileKey[]; sealing: ProfileKey | null; until: number }>();
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

  /**
   * The key to seal a profile's new events with: this region's, created when it has none, even when the
   * profile has a pre-region key (docs/adr/0012): replication may replace that one with another region's,
   * and whatever was sealed with the lost one would never open again (invariant 2).
   */
  async current(profileId: string): Promise<ProfileKey> {
    const cached = this.cached(profileId);
    if (cached?.sealing) return cached.sealing;
    const stored = await this.store.read(profileId);
    const sealing = this.ownKeyOf(stored) ?? (await this.create(profileId));
    return this.remember(profileId, [...stored, sealing], sealing).sealing!;
  }

  /**
   * This region's key of the profile read from the store (not the cache), or null: never creates one, and never
   * the pre-region key, which a backup line must not be sealed with for the reason `current` gives (backup).
   */
  async existing(profileId: string): Promise<ProfileKey | null> {
    const own = this.ownKeyOf(await this.store.read(profileId));
    return own ? this.unwrap(profileId, own) : null;
  }

  /** Whether this is a current key of the profile (any region's), read from the store, not the cache (re-drive). */
  async isCurrent(profileId: string, keyId: string): Promise<boolean> {
    return (await this.store.read(profileId)).some((k) => k.keyId === keyId);
  }

  /** The key with this id, any region's, or null once it is erased (or never was the profile's). */
  async byId(profileId: string, keyId: string): Promise<Buffer | null> {
    return (await this.currentById(profileId, keyId))?.key ?? null;
  }

  /** As `byId`, with the key's bound (`opensAfter`), for opening messages of the log. */
  async currentById(profileId: string, keyId: string): Promise<ProfileKey | null> {
    const cached = this.cached(profileId)?.keys.find((k) => k.keyId === keyId);
    if (cached) return cached;
    // Not cached: read again, the key may be another region's created since.
    const stored = await this.store.read(profileId);
    const { keys } = this.remember(profileId, stored, this.ownKeyOf(stored));
    return keys.find((k) => k.keyId === keyId) ?? null;
  }

  /**
   * Once an erasure's mark is on the log: every current key of the profile opens, in the mark's partition, only
   * what lies past the mark. A key created after the erasure's last read of the keys and before its mark (a
   * collector of a region that had none, the API's `title-removed`, `cli backup`, ingest re-sealing) may have
   * sealed events that lie before the mark: they stay erased, on the log too. The key stays current (it is
   * usually the new history's: shredding it would lose what ingest opened with it while current and never
   * re-sealed, review of session 13). The read cannot tell such a key from one created after the mark: that one
   * is bounded too, harmlessly (everything it sealed lies past the mark). Run by the API's erasure at once, and
   * by ingest when it meets the mark (an API that died first, or of an older build). Serial read: a key whose
   * creation is still committing is seen.
   */
  async boundByMark(profileId: string, mark: MarkPosition): Promise<void> {
    for (const k of await this.store.read(profileId, { serial: true })) {
      await this.store.bound(profileId, k, mark);
    }
    this.forget(profileId);
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
    if (at) await this.boundByMark(profileId, { ...at, offset });
    for (const k of await this.store.listShredding(profileId)) {
      if (ids.has(k.erasureId) && k.markOffset === null) {
        await this.store.recordMark(profileId, k.keyId, k.erasureId, offset);
      }
    }
  }

  /** Where the erasure's mark lies as first recorded (by its API, by ingest meeting it, or by a retry covering it). */
  async recordedMarkOf(profileId: string, erasureId: string): Promise<MarkPosition | null> {
    const recorded = (await this.store.recordedMarks(profileId)).find((m) => m.erasureId === erasureId);
    // Rows an older finisher wrote from a shredding key's offset name no topic or partition: no position to use.
    if (recorded === undefined || recorded.topic == null || recorded.partition == null) return null;
    return { topic: recorded.topic, partition: recorded.partition, offset: recorded.offset };
  }

  /**
   * Whether this mark of the erasure lies after the position recorded for it (the first recorded wins): another
   * erasure that took it over recorded its own, earlier mark for it, so this one was published late, by a process
   * that stalled past its lease after its last renewal (ADR 9). Only within one topic and partition.
   */
  async supersededMark(profileId: string, erasureId: string, mark: MarkPosition): Promise<boolean> {
    const recorded = await this.recordedMarkOf(profileId, erasureId);
    return (
      recorded !== null &&
      recorded.topic === mark.topic &&
      recorded.partition === mark.partition &&
      BigInt(recorded.offset) < BigInt(mark.offset)
    );
  }

  /**
   * Where the profile's erasures' marks lie, as far as known: recorded in the ledger, or met by ingest on a
   * shredding key (topic and partition null: the profile's partition of the event log, matching any; only for an
   * erasure with no position recorded, which would otherwise place a copy in a partition added since before it).
   */
  async marksOf(profileId: string): Promise<{ topic: string | null; partition: number | null; offset: string }[]> {
    const [recorded, shredding] = await Promise.all([
      this.store.recordedMarks(profileId),
      this.store.listShredding(profileId),
    ]);
    const positioned = new Set(recorded.filter((m) => m.topic != null && m.partition != null).map((m) => m.erasureId));
    return [
      ...recorded,
      ...shredding.flatMap((k) =>
        k.markOffset === null || positioned.has(k.erasureId)
          ? []
          : [{ topic: null, partition: null, offset: k.markOffset }],
      ),
    ];
  }

  /**
   * Moves every key of the profile (each region's, and its pre-region key) to shredding (see the class comment)
   * and notes the erasure. Idempotent: erasing a profile without a key notes it only. Safe to run twice at once
   * (a retry after a timeout, two callers): every change of a key's row is conditional (Paxos), so the first
   * erasure that moved a key keeps it. `hold` runs before each round of changes of the keys (ProfileErasure
   * renews its lease there): a process that stalled past its lease, and was taken over meanwhile, stops
   * before it shreds or deletes the keys of the history that followed.
   */
  async erase(
    profileId: string,
    erasureId: string = randomUUID(),
    at = this.now(),
    hold: () => Promise<void> = async () => undefined,
  ): Promise<{ erasedKeyIds: string[] }> {
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
    // Every key this call shredded stays named: another erasure may delete one first, but this one shredded it.
    const named = new Map<string, { keyId: string; datacenter: string | null }>();
    let readAfterDeletes = false;
    for (;;) {
      // Serial: a key whose creation (IF NOT EXISTS) is still committing is seen, not missed (review 2, item 3).
      const stored = await this.store.read(profileId, { serial: true });
      if (stored.length === 0) {
        if (!readAfterDeletes) await this.store.recordErasure(profileId, erasureId, [...named.values()], at);
        return { erasedKeyIds: [...named.keys()] };
      }
      // Shredding first: a crash before the deletes leaves the keys current (the caller retries), never lost
      // early. The ledger names every key before any is deleted: a key gone from the current keys is always
      // named (ADR 9).
      await hold();
      for (const k of stored) {
        const owner = await this.store.putShredding(
          profileId,
          { keyId: k.keyId, wrapped: k.wrapped, erasureId },
          this.shreddingMs,
        );
        // An earlier attempt shredded this key and stopped before deleting it: this erasure's mark must bound it.
        if (owner !== erasureId) await this.store.relabel(profileId, k.keyId, owner, erasureId);
        named.set(k.keyId, { keyId: k.keyId, datacenter: k.datacenter });
      }
      await this.store.recordErasure(profileId, erasureId, [...named.values()], at);
      // In any order: a process reading between two deletes seals with a key already shredding, as with a copy
      // it cached just before the first (the grace below covers both).
      const deleted = new Set<string>();
      let all = true;
      await hold();
      for (const k of stored) {
        if (await this.store.deleteIf(profileId, k)) deleted.add(k.keyId);
        else all = false;
      }
      // Collectors may seal with a cached copy for PROFILE_KEYS_CACHE_MS after the delete, however long this
      // call stalled before it: the grace counts from here (review, session 6). A crash before this line
      // leaves the grace counted from the move, 24 h by default.
      for (const keyId of deleted) await this.store.restartGrace(profileId, keyId, this.shreddingMs);
      this.forget(profileId);
      // A row that changed meanwhile (another erasure deleted it, its region replaced it): read again.
      if (!all) continue;
      // A key created since the read in a row it did not hold (a region's first key: a collector, `cli
      // backup`, ingest re-sealing) stays current, and what it seals before the mark stays readable on the log
      // for ever. Read once more and shred what is new: the window left runs from that read to the mark (ADR 9);
      // one more pass, not a chase, so a profile in constant use cannot keep its erasure from finishing.
      if (readAfterDeletes) return { erasedKeyIds: [...named.keys()] };
      readAfterDeletes = true;
    }
  }

  forget(profileId: string): void {
    this.cache.delete(profileId);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  private async create(profileId: string): Promise<CurrentProfileKey> {
    const keyId = randomUUID();
    const created = await this.store.createIfAbsent(profileId, keyId, this.wrap(profileId, keyId, newDataKey()));
    return { ...created, datacenter: this.store.datacenter };
  }

  /**
   * The key this region seals with: its own row's, never the pre-region key (see `current`), which is never
   * copied into the region's row either: a copy racing an erasure would make an erased key current again.
   */
  private ownKeyOf(stored: CurrentProfileKey[]): CurrentProfileKey | null {
    return stored.find((k) => k.datacenter === this.store.datacenter) ?? null;
  }

  private wrap(profileId: string, keyId: string, key: Buffer): Buffer {
    return seal(this.masterKey, key, `profile-key\n${profileId}\n${keyId}`);
  }

  private unwrap(
    profileId: string,
    stored: Omit<StoredProfileKey, 'opensAfter'> & { opensAfter?: readonly MarkPosition[] },
  ): ProfileKey {
    return {
      keyId: stored.keyId,
      key: unseal(this.masterKey, stored.wrapped, `profile-key\n${profileId}\n${stored.keyId}`),
      opensAfter: stored.opensAfter ?? [],
    };
  }

  private cached(profileId: string): { keys: ProfileKey[]; sealing: ProfileKey | null } | null {
    const entry = this.cache.get(profileId);
    if (!entry) return null;
    if (entry.until <= this.now()) {
      this.cache.delete(profileId);
      return null;
    }
    return entry;
  }

  private remember(
    profileId: string,
    stored: StoredProfileKey[],
    sealing: StoredProfileKey | null,
  ): { keys: ProfileKey[]; sealing: ProfileKey | null } {
    const keys = new Map<string, ProfileKey>();
    for (const k of stored) if (!keys.has(k.keyId)) keys.set(k.keyId, this.unwrap(profileId, k));
    const entry = { keys: [...keys.values()], sealing: sealing ? keys.get(sealing.keyId)! : null };
    if (this.cacheMs > 0) {
      // Bounded: a collector sees many profiles; expired entries go first, then the oldest.
      if (this.cache.size >= 100_000) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(profileId, { ...entry, until: this.now() + this.cacheMs });
    }
    return entry;
  }
}
