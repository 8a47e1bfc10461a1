import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { AppConfig, spansSeveralDataCenters } from '@vh/config';
import { metrics } from '@vh/metrics';
import { AbandonedErasureFinisher } from './abandoned-erasure.finisher';
import { IngestProgress } from './ingest-progress';
import { ProfileKeyStore, ShreddingKey } from './profile-keys';

/**
 * Destroys shredding keys (docs/adr/0009), in ingest: a key goes once (1) its grace is over, as Cassandra
 * judges it (the TTL'd shred_at cell; no service clock, invariant 6), so no collector still seals with a cached
 * copy, and (2) the ingest group has committed past the fence: the end of the profile's partition read after
 * the grace was over, so every event sealed with the key lies before it. An ingest that is down or lagging
 * keeps the key until it has opened (and re-published) every event after the mark: none is lost (invariant 2).
 * A key still current (an erasure that stopped between shredding and deleting it), or whose erasure's mark
 * ingest never met (abandoned before its mark), is never destroyed: it waits for the erasure to be finished,
 * which the same sweep does once the erasure's lease ran out (AbandonedErasureFinisher).
 * Every instance of ingest sweeps; each step is idempotent.
 */
@Injectable()
export class ShreddingKeySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ShreddingKeySweeper.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private heldAcrossRegions = false;

  constructor(
    private readonly store: ProfileKeyStore,
    private readonly progress: IngestProgress,
    private readonly config: AppConfig,
    @Optional() private readonly finisher?: AbandonedErasureFinisher,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One walk over the shredding keys: fences those past their grace, destroys those ingest is past. */
  async sweep(): Promise<{ destroyed: number; inGrace: number; waitingForIngest: number; unfinished: number }> {
    // Fences and committed offsets are this region's log only: another region's ingest may still need a key
    // (ADR 12, known gaps). Keys are kept, never destroyed, while the keyspaces span several datacenters.
    if (spansSeveralDataCenters(this.config)) {
      if (!this.heldAcrossRegions) this.logger.warn('keyspaces span several datacenters: no erased key is destroyed');
      this.heldAcrossRegions = true;
      return { destroyed: 0, inGrace: 0, waitingForIngest: 0, unfinished: 0 };
    }
    const over: (ShreddingKey & { profileId: string })[] = [];
    const unmarked: (ShreddingKey & { profileId: string })[] = [];
    let inGrace = 0;
    for await (const k of this.store.allShredding()) {
      if (k.inGrace) inGrace++;
      // Its erasure put no mark that ingest met: still running, waiting for ingest, or abandoned after the key
      // step (the API died before erasing what is stored). Destroying the key would leave it neither done nor
      // undone (rows stay stored that a replay drops as erased): kept until the erasure is finished (below).
      else if (k.markOffset === null) unmarked.push(k);
      else over.push(k);
    }
    for (const k of unmarked) {
      this.logger.warn(
        `erasure ${k.erasureId} of profile ${k.profileId} has no mark after its grace: key ${k.keyId} is kept until it is finished`,
      );
    }
    const unfinished = unmarked.length;
    if (this.finisher) {
      try {
        await this.finisher.finish(unmarked);
      } catch (error) {
        this.logger.warn(`finishing abandoned erasures failed (next sweep): ${(error as Error).message}`);
      }
    }
    let destroyed = 0;
    const deleted: typeof over = [];
    for (const k of over) {
      if (!(await this.store.read(k.profileId)).some((current) => current.keyId === k.keyId)) deleted.push(k);
    }
    if (deleted.length > 0) {
      // Read after the rows said their grace is over and after the keys were seen deleted: the partition's end
      // now lies after every event a collector sealed with the key (its cache, PROFILE_KEYS_CACHE_MS, is
      // shorter than the grace). A retry that restarted a key's grace meanwhile wins: the fence is conditional.
      const positions = await this.progress.positions();
      for (const k of deleted) {
        let fence = k.fence;
        if (fence === null) {
          const partition = await this.progress.partitionOf(k.profileId);
          const end = positions.get(partition)?.end;
          if (end === undefined) continue;
          fence = { partition, offset: end };
          if (!(await this.store.recordFence(k.profileId, k.keyId, k.erasureId, fence))) continue;
        }
        const committed = positions.get(fence.partition)?.committed ?? null;
        if (committed !== null && BigInt(committed) >= BigInt(fence.offset)) {
          await this.store.destroyShredding(k.profileId, k.keyId);
          destroyed++;
        }
      }
    }
    const waitingForIngest = over.length - destroyed;
    metrics.shreddingKeys.set({ state: 'grace' }, inGrace);
    metrics.shreddingKeys.set({ state: 'waiting-for-ingest' }, waitingForIngest);
    metrics.shreddingKeys.set({ state: 'erasure-unfinished' }, unfinished);
    if (destroyed > 0) metrics.profileKeysDestroyed.inc(destroyed);
    return { destroyed, inGrace, waitingForIngest, unfinished };
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .catch((error: Error) =>
          this.logger.warn(`sweep of shredding keys failed (next in a moment): ${error.message}`),
        )
        .finally(() => {
          if (this.timer) this.schedule();
        });
    }, this.config.profileKeys.sweepMs);
    this.timer.unref();
  }
}
