import { MarkPosition, ProfileKeyStore, ShreddingKey } from '../profile-keys';

/** The in-memory row of a profile's pre-region key (profile_keys), beside its regions' rows. */
export const PRE_REGION = 'profile_keys';

/** One keyspace as every region's processes see it: the rows, and Cassandra's clock (one for all regions). */
export class InMemoryKeyspace {
  /** The profile's current keys: each region's row by its datacenter; PRE_REGION, the profile's pre-region key. */
  readonly keys = new Map<string, Map<string, { keyId: string; wrapped: Buffer; opensAfter: MarkPosition[] }>>();
  readonly erasures: { profileId: string; erasureId: string; keyIds: string[] }[] = [];
  /** Keys after an erasure, by profile and key id, with the store-clock instant their grace ends. */
  readonly shredding = new Map<string, Omit<ShreddingKey, 'inGrace'> & { graceUntil: number }>();
  /** profile_erasure_marks: the first position recorded for an erasure wins (IF NOT EXISTS). */
  readonly marks: { profileId: string; erasureId: string; topic: string; partition: number; offset: string }[] = [];
  /** Cassandra's clock: the only one that ends a grace. */
  clock = 0;
}

/**
 * Cassandra's part, in memory: the grace of a shredding key is judged by the store's own clock (its TTL). One
 * region's view (its datacenter); `inRegion` gives another region's view of the same keyspace.
 */
export class InMemoryKeyStore extends ProfileKeyStore {
  reads = 0;
  /** Whether each read was a Paxos read (LOCAL_SERIAL), in order. */
  readonly readKinds: ('serial' | 'plain')[] = [];
  constructor(
    readonly datacenter = 'dc1',
    private readonly keyspace = new InMemoryKeyspace(),
  ) {
    super();
  }
  get keys() {
    return this.keyspace.keys;
  }
  get erasures() {
    return this.keyspace.erasures;
  }
  get shredding() {
    return this.keyspace.shredding;
  }
  get marks() {
    return this.keyspace.marks;
  }
  get storeClock() {
    return this.keyspace.clock;
  }
  set storeClock(at: number) {
    this.keyspace.clock = at;
  }
  /** The same keyspace (and the same Cassandra clock) as another region's processes see it. */
  inRegion(datacenter: string): InMemoryKeyStore {
    return new InMemoryKeyStore(datacenter, this.keyspace);
  }
  /** A pre-region key, as a collector of the version before region keys creates it (profile_keys, IF NOT EXISTS). */
  createPreRegion(profileId: string, key: { keyId: string; wrapped: Buffer }) {
    const rows = this.keys.get(profileId) ?? new Map();
    if (!rows.has(PRE_REGION)) rows.set(PRE_REGION, { ...key, opensAfter: [] });
    this.keys.set(profileId, rows);
  }
  async read(profileId: string, options: { serial?: boolean } = {}) {
    this.reads++;
    this.readKinds.push(options.serial ? 'serial' : 'plain');
    return [...(this.keys.get(profileId) ?? new Map()).entries()].map(([row, key]) => ({
      ...key,
      // A copy, as a read from Cassandra: a later bound must not reach what a process cached.
      opensAfter: key.opensAfter.map((b: MarkPosition) => ({ ...b })),
      datacenter: row === PRE_REGION ? null : row,
    }));
  }
  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    const rows = this.keys.get(profileId) ?? new Map();
    if (!rows.has(this.datacenter)) rows.set(this.datacenter, { keyId, wrapped, opensAfter: [] });
    this.keys.set(profileId, rows);
    const row = rows.get(this.datacenter)!;
    return { ...row, opensAfter: row.opensAfter.map((b: MarkPosition) => ({ ...b })) };
  }
  async bound(profileId: string, key: { keyId: string; datacenter: string | null }, mark: MarkPosition) {
    const row = this.keys.get(profileId)?.get(key.datacenter ?? PRE_REGION);
    if (row?.keyId !== key.keyId) return;
    const same = row.opensAfter.find((b) => b.topic === mark.topic && b.partition === mark.partition);
    if (same === undefined) row.opensAfter.push({ ...mark });
    else if (BigInt(same.offset) < BigInt(mark.offset)) same.offset = mark.offset;
  }
  async deleteIf(profileId: string, key: { keyId: string; datacenter: string | null }) {
    const rows = this.keys.get(profileId);
    const row = key.datacenter ?? PRE_REGION;
    if (rows?.get(row)?.keyId !== key.keyId) return false;
    rows.delete(row);
    if (rows.size === 0) this.keys.delete(profileId);
    return true;
  }
  async recordErasure(profileId: string, erasureId: string, keys: readonly { keyId: string }[]) {
    const keyIds = keys.map((k) => k.keyId);
    const entry = this.erasures.find((e) => e.profileId === profileId && e.erasureId === erasureId);
    if (entry) entry.keyIds = [...new Set([...entry.keyIds, ...keyIds])];
    else this.erasures.push({ profileId, erasureId, keyIds: [...keyIds] });
  }
  async ledgerNames(profileId: string, keyId: string) {
    return this.erasures.some((e) => e.profileId === profileId && e.keyIds.includes(keyId));
  }
  async putShredding(profileId: string, key: { keyId: string; wrapped: Buffer; erasureId: string }, graceMs: number) {
    const id = `${profileId}/${key.keyId}`;
    const existing = this.shredding.get(id);
    if (existing) {
      existing.graceUntil = this.storeClock + graceMs;
      return existing.erasureId;
    }
    this.shredding.set(id, { ...key, markOffset: null, fence: null, graceUntil: this.storeClock + graceMs });
    return key.erasureId;
  }
  async listShredding(profileId: string) {
    return [...this.shredding.entries()].filter(([id]) => id.startsWith(`${profileId}/`)).map(([, k]) => this.view(k));
  }
  async *allShredding() {
    for (const [id, k] of this.shredding) yield { profileId: id.split('/')[0], ...this.view(k) };
  }
  async relabel(profileId: string, keyId: string, from: string, to: string) {
    const key = this.shredding.get(`${profileId}/${keyId}`);
    if (key?.erasureId !== from || key.markOffset !== null) return false;
    key.erasureId = to;
    return true;
  }
  async recordMark(profileId: string, keyId: string, erasureId: string, markOffset: string) {
    const key = this.shredding.get(`${profileId}/${keyId}`);
    if (key?.erasureId === erasureId && key.markOffset === null) key.markOffset = markOffset;
  }
  async recordFence(profileId: string, keyId: string, erasureId: string, fence: { partition: number; offset: string }) {
    const key = this.shredding.get(`${profileId}/${keyId}`);
    if (key?.erasureId !== erasureId || this.storeClock < key.graceUntil) return false;
    key.fence = fence;
    return true;
  }
  async destroyShredding(profileId: string, keyId: string) {
    this.shredding.delete(`${profileId}/${keyId}`);
  }
  async recordErasureMark(
    profileId: string,
    erasureId: string,
    at: { topic: string; partition: number; offset: string },
  ) {
    if (!this.marks.some((m) => m.profileId === profileId && m.erasureId === erasureId)) {
      this.marks.push({ profileId, erasureId, ...at });
    }
  }
  async recordedMarks(profileId: string) {
    return this.marks.filter((m) => m.profileId === profileId).map(({ profileId: _, ...m }) => m);
  }
  async restartGrace(profileId: string, keyId: string, graceMs: number) {
    const key = this.shredding.get(`${profileId}/${keyId}`);
    if (key) key.graceUntil = this.storeClock + graceMs;
  }
  private view({ graceUntil, ...k }: Omit<ShreddingKey, 'inGrace'> & { graceUntil: number }): ShreddingKey {
    return { ...k, inGrace: this.storeClock < graceUntil };
  }
}
