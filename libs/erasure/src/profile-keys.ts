import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, QueryOptions, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { asStorageError, CASSANDRA_CLIENT, consistency } from '@vh/storage';
import { newDataKey, seal, unseal } from './payload-cipher';

export interface ProfileKey {
  keyId: string;
  key: Buffer;
}

/**
 * An erased key in its grace (docs/adr/0009): `until` (service clock, erasure + PROFILE_KEYS_SHREDDING_MS) is
 * when its bytes go; `markOffset` is where the erasure's mark lies in the profile's partition, once ingest met
 * it. Only events after the mark open with it.
 */
export interface ShreddingKey {
  keyId: string;
  wrapped: Buffer;
  erasureId: string;
  until: number;
  markOffset: string | null;
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
  /** Keeps an erased key for its grace; the store drops it by itself at `until` (Cassandra: a TTL). */
  abstract putShredding(profileId: string, key: ShreddingKey): Promise<void>;
  abstract listShredding(profileId: string): Promise<ShreddingKey[]>;
  abstract recordMark(profileId: string, keyId: string, markOffset: string, until: number): Promise<void>;
  abstract destroyShredding(profileId: string, keyId: string): Promise<void>;
}

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
      { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) },
    );
    const row = result.first();
    return row ? { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer } : null;
  }

  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    const result = await this.execute(
      `INSERT INTO ${this.ks}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, keyId, wrapped, new Date()],
      this.conditional(),
    );
    const row = result.first();
    if (row.get('[applied]') === true) return { keyId, wrapped };
    return { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer };
  }

  async deleteIf(profileId: string, keyId: string): Promise<boolean> {
    const result = await this.execute(
      `DELETE FROM ${this.ks}.profile_keys WHERE profile_id = ? IF key_id = ?`,
      [profileId, keyId],
      this.conditional(),
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

  async putShredding(profileId: string, key: ShreddingKey): Promise<void> {
    await this.execute(
      `INSERT INTO ${this.ks}.shredding_profile_keys (profile_id, key_id, wrapped_key, erasure_id, shred_at, mark_offset) ` +
        `VALUES (?, ?, ?, ?, ?, ?) USING TTL ?`,
      [profileId, key.keyId, key.wrapped, key.erasureId, new Date(key.until), key.markOffset, ttlSeconds(key.until)],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
    );
  }

  async listShredding(profileId: string): Promise<ShreddingKey[]> {
    const result = await this.execute(
      `SELECT key_id, wrapped_key, erasure_id, shred_at, mark_offset FROM ${this.ks}.shredding_profile_keys WHERE profile_id = ?`,
      [profileId],
      { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) },
    );
    return result.rows.map((row) => ({
      keyId: String(row.get('key_id')),
      wrapped: row.get('wrapped_key') as Buffer,
      erasureId: String(row.get('erasure_id')),
      until: (row.get('shred_at') as Date).getTime(),
      markOffset: row.get('mark_offset') === null ? null : String(row.get('mark_offset')),
    }));
  }

  async recordMark(profileId: string, keyId: string, markOffset: string, until: number): Promise<void> {
    // The same TTL as the row: the offset never outlives the key. A conditional update so an expired row is
    // not brought back as a row holding an offset only.
    await this.execute(
      `UPDATE ${this.ks}.shredding_profile_keys USING TTL ? SET mark_offset = ? WHERE profile_id = ? AND key_id = ? IF EXISTS`,
      [ttlSeconds(until), markOffset, profileId, keyId],
      this.conditional(),
    );
  }

  async destroyShredding(profileId: string, keyId: string): Promise<void> {
    await this.execute(
      `DELETE FROM ${this.ks}.shredding_profile_keys WHERE profile_id = ? AND key_id = ?`,
      [profileId, keyId],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
    );
  }

  /** The driver's failures as the service's: a cluster that cannot answer is a 503 and a retry, not a 500. */
  private async execute(query: string, params: unknown[], options: QueryOptions) {
    try {
      return await this.client.execute(query, params, options);
    } catch (error) {
      throw asStorageError(error);
    }
  }

  private conditional() {
    return {
      prepare: true,
      consistency: consistency(this.config.cassandra.writeConsistency),
      serialConsistency: types.consistencies.localSerial,
    };
  }
}

function ttlSeconds(until: number): number {
  return Math.max(1, Math.ceil((until - Date.now()) / 1000));
}

/**
 * Each profile's data key (crypto-shredding, docs/adr/0009): created on the profile's first sealed event,
 * wrapped by the master key at rest. An erasure moves it to "shredding" for PROFILE_KEYS_SHREDDING_MS: never
 * used to seal again, opened only for events after the erasure's mark (a collector's cached copy); then its
 * bytes are gone and every copy of the profile's events sealed with it (the log, a backup) is unreadable.
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
   * An erased key in its grace, if this is one, and where its erasure's mark lies (null: not met yet).
   * Past its `until` it is destroyed here too (the store's TTL does it anyway): lazily, never opened.
   */
  async shredding(
    profileId: string,
    keyId: string,
  ): Promise<{ key: Buffer; erasureId: string; markOffset: string | null } | null> {
    const found = (await this.store.listShredding(profileId)).find((k) => k.keyId === keyId);
    if (!found) return null;
    if (found.until <= this.now()) {
      await this.store.destroyShredding(profileId, keyId);
      return null;
    }
    return { key: this.unwrap(profileId, found).key, erasureId: found.erasureId, markOffset: found.markOffset };
  }

  /** Notes where an erasure's mark lies in the profile's partition: events after it open with the old key. */
  async markMet(profileId: string, erasureId: string, offset: string): Promise<void> {
    for (const k of await this.store.listShredding(profileId)) {
      if (k.erasureId === erasureId && k.markOffset === null && k.until > this.now()) {
        await this.store.recordMark(profileId, k.keyId, offset, k.until);
      }
    }
  }

  /**
   * Moves the profile's key to shredding (see the class comment) and notes the erasure. Idempotent: erasing a
   * profile without a key notes it only.
   */
  async erase(profileId: string, erasureId = randomUUID(), at = this.now()): Promise<{ erasedKeyId: string | null }> {
    this.forget(profileId);
    // A retried erasure (its first mark may never have been published): keys an earlier erasure shredded whose
    // mark ingest has not met take this erasure's id, so this mark bounds them too. Whatever lies before this
    // mark in the log is before this erasure, so nothing that should open is dropped by the later boundary.
    for (const k of await this.store.listShredding(profileId)) {
      if (k.markOffset === null && k.erasureId !== erasureId && k.until > this.now()) {
        await this.store.putShredding(profileId, { ...k, erasureId });
      }
    }
    for (;;) {
      const stored = await this.store.read(profileId);
      if (!stored) {
        await this.store.recordErasure(profileId, erasureId, null, at);
        return { erasedKeyId: null };
      }
      // A key created between the read and the delete (a new session) is shredded on the next turn. Shredding
      // first: a crash between the two leaves the key current (the caller retries), never lost early.
      await this.store.putShredding(profileId, {
        keyId: stored.keyId,
        wrapped: stored.wrapped,
        erasureId,
        until: at + this.shreddingMs,
        markOffset: null,
      });
      if (await this.store.deleteIf(profileId, stored.keyId)) {
        await this.store.recordErasure(profileId, erasureId, stored.keyId, at);
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
