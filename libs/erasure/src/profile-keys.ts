import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, types } from 'cassandra-driver';
import { AppConfig } from '@vh/config';
import { CASSANDRA_CLIENT, consistency } from '@vh/storage';
import { newDataKey, seal, unseal } from './payload-cipher';

export interface ProfileKey {
  keyId: string;
  key: Buffer;
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
    const result = await this.client.execute(
      `SELECT key_id, wrapped_key FROM ${this.ks}.profile_keys WHERE profile_id = ?`,
      [profileId],
      { prepare: true, consistency: consistency(this.config.cassandra.readConsistency) },
    );
    const row = result.first();
    return row ? { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer } : null;
  }

  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    const result = await this.client.execute(
      `INSERT INTO ${this.ks}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, keyId, wrapped, new Date()],
      this.conditional(),
    );
    const row = result.first();
    if (row.get('[applied]') === true) return { keyId, wrapped };
    return { keyId: String(row.get('key_id')), wrapped: row.get('wrapped_key') as Buffer };
  }

  async deleteIf(profileId: string, keyId: string): Promise<boolean> {
    const result = await this.client.execute(
      `DELETE FROM ${this.ks}.profile_keys WHERE profile_id = ? IF key_id = ?`,
      [profileId, keyId],
      this.conditional(),
    );
    return result.first().get('[applied]') === true;
  }

  async recordErasure(profileId: string, erasureId: string, keyId: string | null, at: number): Promise<void> {
    await this.client.execute(
      `INSERT INTO ${this.ks}.profile_erasures (profile_id, erasure_id, key_id, erased_at) VALUES (?, ?, ?, ?)`,
      [profileId, erasureId, keyId, new Date(at)],
      { prepare: true, consistency: consistency(this.config.cassandra.writeConsistency) },
    );
  }

  private conditional() {
    return {
      prepare: true,
      consistency: consistency(this.config.cassandra.writeConsistency),
      serialConsistency: types.consistencies.localSerial,
    };
  }
}

/**
 * Each profile's data key (crypto-shredding, docs/adr/0009): created on the profile's first sealed event,
 * wrapped by the master key at rest, deleted by an erasure, after which every copy of the profile's events
 * sealed with it (the log, a backup) is unreadable. Kept in memory for PROFILE_KEYS_CACHE_MS at most.
 */
@Injectable()
export class ProfileKeys {
  private readonly cache = new Map<string, { key: ProfileKey; until: number }>();
  private readonly masterKey: Buffer;
  private readonly cacheMs: number;

  constructor(
    private readonly store: ProfileKeyStore,
    config: AppConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.masterKey = config.profileKeys.masterKey;
    this.cacheMs = config.profileKeys.cacheMs;
  }

  /** The key to seal a profile's new events with: its current one, created when it has none. */
  async current(profileId: string): Promise<ProfileKey> {
    const cached = this.cached(profileId);
    if (cached) return cached;
    const stored = (await this.store.read(profileId)) ?? (await this.create(profileId));
    return this.remember(profileId, this.unwrap(profileId, stored));
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

  /** Deletes the profile's key and notes the erasure. Idempotent: erasing a profile without a key notes it only. */
  async erase(profileId: string, erasureId = randomUUID(), at = this.now()): Promise<{ erasedKeyId: string | null }> {
    this.forget(profileId);
    for (;;) {
      const stored = await this.store.read(profileId);
      if (!stored) {
        await this.store.recordErasure(profileId, erasureId, null, at);
        return { erasedKeyId: null };
      }
      // A key created between the read and the delete (a new session) is deleted on the next turn.
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
