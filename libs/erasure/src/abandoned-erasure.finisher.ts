import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { metrics } from '@vh/metrics';
import { ErasureLedger, LogPosition } from './erasure-ledger';
import { ErasureInProgress, ErasuresInProgress } from './erasures-in-progress';
import { ProfileErasure } from './profile-erasure';
import { IngestProgress } from './ingest-progress';

type Positions = Awaited<ReturnType<IngestProgress['positions']>>;

/**
 * Finishes erasures nobody finishes (docs/adr/0009): an erasure whose lease (PROFILE_ERASURE_LEASE_MS, a TTL
 * Cassandra alone expires: invariant 6) ran out before it recorded its mark was abandoned (its API process
 * died or stalled after the key step). Its profile is erased again through the API's own path
 * (ProfileErasure), which takes the abandoned erasure over, erases what is stored, publishes a mark bounding
 * it and records it: exactly what a member's retry would do. Run by ShreddingKeySweeper in ingest, every
 * PROFILE_KEYS_SWEEP_MS, each instance; the take-over is conditional (Paxos), so one retry per abandonment.
 */
@Injectable()
export class AbandonedErasureFinisher {
  private readonly logger = new Logger(AbandonedErasureFinisher.name);

  constructor(
    private readonly erasure: ProfileErasure,
    private readonly inProgress: ErasuresInProgress,
    private readonly ledger: ErasureLedger,
    private readonly progress: IngestProgress,
    private readonly config: AppConfig,
  ) {}

  /**
   * One walk. `unmarked`: shredding keys past their grace whose mark ingest never met (the sweeper's walk). An
   * erasure of one of them not noted in progress and without a recorded mark (begun by a build before the notes,
   * or its note lost) is noted now, leased: finished once that lease runs out, unless it ends meanwhile.
   */
  async finish(
    unmarked: readonly { profileId: string; erasureId: string }[] = [],
  ): Promise<{ running: number; abandoned: number; finished: number }> {
    const rows: ErasureInProgress[] = [];
    for await (const row of this.inProgress.all()) rows.push(row);
    const noted = new Set(rows.map((r) => `${r.profileId}/${r.erasureId}`));
    for (const k of unmarked) {
      if (noted.has(`${k.profileId}/${k.erasureId}`)) continue;
      noted.add(`${k.profileId}/${k.erasureId}`);
      const marked = (await this.ledger.erasures(k.profileId)).some((e) => e.erasureId === k.erasureId && e.mark);
      // A recorded mark: the erasure put it; its key waits for ingest to meet it.
      if (!marked) await this.inProgress.begin(k.profileId, k.erasureId, this.config.profileKeys.erasureLeaseMs);
    }
    const abandoned = new Map<string, ErasureInProgress[]>();
    for (const row of rows) {
      if (!row.leased) abandoned.set(row.profileId, [...(abandoned.get(row.profileId) ?? []), row]);
    }
    // Read after the rows said their leases ran out: a mark their erasures put before lies before these ends.
    const positions = abandoned.size > 0 ? await this.progress.positions() : new Map();
    let finished = 0;
    for (const [profileId, erasures] of abandoned) {
      try {
        finished += await this.finishProfile(profileId, erasures, positions);
      } catch (error) {
        // One profile's failure (the cluster, say) fails only itself: its erasures stay noted for the next walk.
        this.logger.warn(
          `finishing the erasures of profile ${profileId} failed (next sweep): ${(error as Error).message}`,
        );
      }
    }
    const lapsed = rows.filter((r) => !r.leased).length;
    metrics.erasuresInProgress.set({ state: 'running' }, rows.length - lapsed);
    metrics.erasuresInProgress.set({ state: 'abandoned' }, lapsed);
    return { running: rows.length - lapsed, abandoned: lapsed, finished };
  }

  private async finishProfile(profileId: string, erasures: ErasureInProgress[], positions: Positions): Promise<number> {
    // Read after the positions: a mark ingest met before committing past a fence is in the ledger by now.
    const marks = new Map<string, LogPosition>();
    for (const e of await this.ledger.erasures(profileId)) if (e.mark !== null) marks.set(e.erasureId, e.mark);
    let ready = false;
    for (const e of erasures) {
      // Its mark is on the log (it died before ending its note): the keys' bound by its mark, then done. Erasing
      // again would take the profile's new history too (everything before a later mark).
      if (marks.has(e.erasureId)) await this.erasure.finishAfterMark(profileId, e, marks.get(e.erasureId)!);
      // Taken over by a retry whose mark is on the log: that mark bounds it (the retry took it over before its
      // first step), though it names the retry only (an older build's, or the retry died before recording it
      // for both): recorded for it too, then done.
      else if (e.owner !== e.erasureId && marks.has(e.owner)) {
        await this.ledger.recordMark(profileId, [e.erasureId], marks.get(e.owner)!);
        await this.inProgress.end(profileId, e.erasureId, e.owner);
      } else if (await this.ingestPastFence(profileId, e, positions)) ready = true;
    }
    // Until ingest is past the end its partition had once the lease ran out, a mark it put may still be on its
    // way to ingest (the API died between publishing and recording it; ingest lags): wait rather than erase twice.
    if (!ready) return 0;
    const done = await this.erasure.finishAbandoned(profileId);
    if (!done) return 0; // another ingest took them over first, or their own process renewed its lease
    this.logger.warn(
      `erasure ${done.tookOver.join(', ')} of profile ${profileId} outlived its lease without a mark: ` +
        `finished by erasure ${done.erasureId}`,
    );
    return done.tookOver.length;
  }

  /** Fences the erasure at its partition's end (once), and says whether ingest committed past that. */
  private async ingestPastFence(profileId: string, e: ErasureInProgress, positions: Positions): Promise<boolean> {
    let fence = e.fence;
    if (fence === null) {
      const partition = await this.progress.partitionOf(profileId);
      const end = positions.get(partition)?.end;
      if (end === undefined) return false;
      fence = { partition, offset: end };
      // Conditional: a process that renewed the lease meanwhile (it was only slow) wins.
      if (!(await this.inProgress.recordFence(profileId, e.erasureId, e.owner, fence))) return false;
    }
    const committed = positions.get(fence.partition)?.committed ?? null;
    return committed !== null && BigInt(committed) >= BigInt(fence.offset);
  }
}
