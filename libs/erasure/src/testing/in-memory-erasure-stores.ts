import { AppConfig } from '@vh/config';
import type { PublishedBatch, ViewingEventPublisher } from '@vh/messaging';
import type { StoredHistoryEraser, StoredHistoryErasure } from '@vh/storage';
import { ErasureLedger, ErasureRecord, LogPosition, mergeErasures } from '../erasure-ledger';
import { ErasureInProgress, ErasuresInProgress } from '../erasures-in-progress';
import { ProfileKeyStore, ShreddingKey } from '../profile-keys';
import { IngestProgress } from '../ingest-progress';

/**
 * In-memory fakes of the erasure's ports, for unit specs: Cassandra's part (keys, shredding keys, the ledger,
 * erasures in progress; every TTL judged by `storeClock`, the store's own clock), the event log's (marks
 * published) and what is stored of a profile (erasures counted).
 */

/** Cassandra's part, in memory: the grace of a shredding key is judged by the store's own clock (its TTL). */
export class InMemoryKeyStore extends ProfileKeyStore {
  readonly keys = new Map<string, { keyId: string; wrapped: Buffer }>();
  readonly erasures: { profileId: string; erasureId: string; keyId: string | null }[] = [];
  /** Cassandra's clock: the only one that ends a grace. */
  storeClock = 0;
  reads = 0;
  async read(profileId: string) {
    this.reads++;
    return this.keys.get(profileId) ?? null;
  }
  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    if (!this.keys.has(profileId)) this.keys.set(profileId, { keyId, wrapped });
    return this.keys.get(profileId)!;
  }
  async deleteIf(profileId: string, keyId: string) {
    if (this.keys.get(profileId)?.keyId !== keyId) return false;
    this.keys.delete(profileId);
    return true;
  }
  async recordErasure(profileId: string, erasureId: string, keyId: string | null) {
    const i = this.erasures.findIndex((e) => e.profileId === profileId && e.erasureId === erasureId);
    if (i >= 0) this.erasures.splice(i, 1);
    this.erasures.push({ profileId, erasureId, keyId });
  }
  async ledgerNames(profileId: string, keyId: string) {
    return this.erasures.some((e) => e.profileId === profileId && e.keyId === keyId);
  }
  /** Keys after an erasure, by profile and key id, with the store-clock instant their grace ends. */
  readonly shredding = new Map<string, Omit<ShreddingKey, 'inGrace'> & { graceUntil: number }>();
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
  /** profile_erasure_marks: the first position recorded for an erasure wins (IF NOT EXISTS). */
  readonly marks: { profileId: string; erasureId: string; topic: string; partition: number; offset: string }[] = [];
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

/** Kafka's part: every profile on partition 0 unless told otherwise; ends and committed offsets as set. */
export class FakeIngestProgress extends IngestProgress {
  private readonly byPartition = new Map<number, { end: string; committed: string | null }>();
  set(partition: number, position: { end: string; committed: string | null }) {
    this.byPartition.set(partition, position);
    return this;
  }
  async partitionOf() {
    return 0;
  }
  async positions() {
    return new Map(this.byPartition);
  }
}

/** profile_erasures_in_progress: leases end by the store's clock (its TTL), every change conditional. */
export class InMemoryErasuresInProgress extends ErasuresInProgress {
  readonly rows = new Map<string, Omit<ErasureInProgress, 'leased'> & { leaseUntil: number }>();
  constructor(private readonly storeClock: () => number) {
    super();
  }
  async begin(profileId: string, erasureId: string, leaseMs: number) {
    const id = `${profileId}/${erasureId}`;
    if (this.rows.has(id)) return;
    this.rows.set(id, { profileId, erasureId, owner: erasureId, fence: null, leaseUntil: this.storeClock() + leaseMs });
  }
  async hold(profileId: string, erasureId: string, leaseMs: number, tookOver: readonly string[] = []) {
    const rows = [erasureId, ...tookOver].map((id) => this.rows.get(`${profileId}/${id}`));
    if (rows.some((row) => row?.owner !== erasureId)) return false;
    for (const row of rows) this.lease(row!, leaseMs);
    return true;
  }
  async takeOver(profileId: string, erasureId: string, from: string, by: string, leaseMs: number) {
    const row = this.rows.get(`${profileId}/${erasureId}`);
    if (row?.owner !== from || this.storeClock() < row.leaseUntil) return false;
    row.owner = by;
    this.lease(row, leaseMs);
    return true;
  }
  async recordFence(profileId: string, erasureId: string, owner: string, fence: { partition: number; offset: string }) {
    const row = this.rows.get(`${profileId}/${erasureId}`);
    if (row?.owner !== owner || this.storeClock() < row.leaseUntil || row.fence !== null) return false;
    row.fence = fence;
    return true;
  }
  async end(profileId: string, erasureId: string) {
    this.rows.delete(`${profileId}/${erasureId}`);
  }
  async of(profileId: string) {
    return [...this.rows.values()].filter((r) => r.profileId === profileId).map((r) => this.view(r));
  }
  async *all() {
    for (const row of [...this.rows.values()]) yield this.view(row);
  }
  private lease(row: { leaseUntil: number; fence: unknown }, leaseMs: number) {
    row.leaseUntil = this.storeClock() + leaseMs;
    row.fence = null;
  }
  private view({ leaseUntil, ...row }: Omit<ErasureInProgress, 'leased'> & { leaseUntil: number }): ErasureInProgress {
    return { ...row, leased: this.storeClock() < leaseUntil };
  }
}

/** The erasure ledger read from the in-memory key store, merged as the Cassandra one merges its tables. */
export class InMemoryErasureLedger extends ErasureLedger {
  constructor(
    private readonly store: InMemoryKeyStore,
    config: AppConfig,
  ) {
    super(undefined as never, config);
  }
  override async recordMark(profileId: string, erasureIds: readonly string[], at: LogPosition) {
    for (const erasureId of new Set(erasureIds)) {
      await this.store.recordErasureMark(profileId, erasureId, { ...at, topic: at.topic!, partition: at.partition! });
    }
  }
  override async erasures(profileId: string): Promise<ErasureRecord[]> {
    return mergeErasures(
      this.store.erasures.filter((e) => e.profileId === profileId),
      await this.store.listShredding(profileId),
      await this.store.recordedMarks(profileId),
    );
  }
}

/** The event log's part of an erasure: the marks published, at consecutive offsets of partition 0. */
export class FakeMarkPublisher {
  readonly published: { key: string; value: string }[] = [];
  async publishEncoded(messages: { key: string; value: string | Buffer }[]): Promise<PublishedBatch[]> {
    const baseOffset = String(this.published.length);
    for (const { key, value } of messages) this.published.push({ key, value: String(value) });
    return [{ topic: 'events', partition: 0, baseOffset }];
  }
  marksOf(profileId: string): { erasureId: string }[] {
    return this.published.filter((m) => m.key === profileId).map((m) => JSON.parse(m.value) as { erasureId: string });
  }
  asPublisher(): ViewingEventPublisher {
    return this as unknown as ViewingEventPublisher;
  }
}

/** What is stored of a profile: which profiles were erased, how often. */
export class FakeStoredHistoryEraser {
  readonly erased: string[] = [];
  /** Reads, then holds (the erasure's lease), then removes: as StoredHistoryEraser. */
  async erase(profileId: string, options: { hold?: () => Promise<void> } = {}): Promise<StoredHistoryErasure> {
    await options.hold?.();
    this.erased.push(profileId);
    return { profileId, liveRows: 0, compressedVersion: null, chunkSetsDeleted: 0 };
  }
  asEraser(): StoredHistoryEraser {
    return this as unknown as StoredHistoryEraser;
  }
}
