import { AppConfig } from '@vh/config';
import type { PublishedBatch, ViewingEventPublisher } from '@vh/messaging';
import type { StoredHistoryEraser, StoredHistoryErasure } from '@vh/storage';
import { ErasureLedger, ErasureRecord, LogPosition, mergeErasures } from '../erasure-ledger';
import { ErasureInProgress, ErasuresInProgress } from '../erasures-in-progress';
import { IngestProgress } from '../ingest-progress';
import { ProfileKeyStore } from '../profile-keys';

/**
 * In-memory fakes of the erasure's ports, for unit specs: Cassandra's part (erasures in progress and the ledger
 * read from the keys of in-memory-profile-key-store; every TTL judged by `storeClock`, the store's own clock),
 * Kafka's (ingest's progress), the event log's (marks published) and what is stored of a profile (erasures
 * counted).
 */

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
  async release(profileId: string, owner: string, erasureIds: readonly string[]) {
    for (const erasureId of erasureIds) {
      const row = this.rows.get(`${profileId}/${erasureId}`);
      if (row?.owner === owner) row.leaseUntil = this.storeClock();
    }
  }
  async recordFence(profileId: string, erasureId: string, owner: string, fence: { partition: number; offset: string }) {
    const row = this.rows.get(`${profileId}/${erasureId}`);
    if (row?.owner !== owner || this.storeClock() < row.leaseUntil || row.fence !== null) return false;
    row.fence = fence;
    return true;
  }
  async end(profileId: string, erasureId: string, owner: string) {
    if (this.rows.get(`${profileId}/${erasureId}`)?.owner === owner) this.rows.delete(`${profileId}/${erasureId}`);
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
    /** An InMemoryKeyStore (testing/in-memory-profile-key-store): its ledger rows, shredding keys and marks. */
    private readonly store: ProfileKeyStore & {
      readonly erasures: readonly { profileId: string; erasureId: string; keyIds: string[] }[];
    },
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
    return { profileId, liveRows: 0, erasureTombstoneUs: null, compressedVersion: null, chunkSetsDeleted: 0 };
  }
  asEraser(): StoredHistoryEraser {
    return this as unknown as StoredHistoryEraser;
  }
}
