import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, spansSeveralDataCenters } from '@vh/config';
import { ErasureInProgressError, NotSupportedAcrossRegionsError } from '@vh/domain';
import { randomUUID } from 'node:crypto';
import { ViewingEventPublisher } from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { StoredHistoryEraser } from '@vh/storage';
import { ErasureLedger } from './erasure-ledger';
import { ErasuresInProgress } from './erasures-in-progress';
import { ProfileKeys } from './profile-keys';
import { encodeProfileErasedMark } from './sealed-message';

/**
 * Erases a profile for good (docs/adr/0009): its key first (every sealed copy of its events, on the log
 * and in backups, becomes unreadable), then what is stored, at once, then the mark on the log (ingest erases
 * again after everything the log held before it, and every restore replays it), then where the mark lies, in
 * the ledger. What is stored is erased BEFORE the mark exists: everything it can see came from the log
 * before the mark, so it can never remove an event after it (the member's new history; invariant 1), and no
 * clock decides (invariant 6). Each step is idempotent: a caller told 503 half-way calls again.
 *
 * The erasure is noted in progress before its first step, leased, and renews its lease before each step. One
 * whose lease ran out without its mark (its process died or stalled) is taken over by the next erasure of the
 * profile, which ingest's sweep starts by itself (AbandonedErasureFinisher); a stalled process that wakes after
 * that finds its lease taken and stops before its next step (ErasureInProgressError), so it cannot erase the
 * history that followed the retry's mark.
 */
@Injectable()
export class ProfileErasure {
  private readonly logger = new Logger(ProfileErasure.name);

  constructor(
    private readonly keys: ProfileKeys,
    private readonly publisher: ViewingEventPublisher,
    private readonly stored: StoredHistoryEraser,
    private readonly ledger: ErasureLedger,
    private readonly inProgress: ErasuresInProgress,
    private readonly config: AppConfig,
  ) {}

  /** A member's or an operator's erasure (the API). */
  async erase(
    profileId: string,
    options: { requestId?: string; erasureId?: string } = {},
  ): Promise<{ erasureId: string; acceptedAt: number; tookOver: string[] }> {
    return (await this.run(profileId, { ...options, by: 'api', onlyIfTakingOver: false }))!;
  }

  /**
   * Ingest's sweep: the same erasure, run only if it takes over an erasure of the profile whose lease ran out
   * (another process may have taken them first; and a retry of a profile nobody abandoned would erase its new
   * history). Null when it took none over and did nothing.
   */
  finishAbandoned(profileId: string): Promise<{ erasureId: string; tookOver: string[] } | null> {
    return this.run(profileId, { by: 'finisher', onlyIfTakingOver: true });
  }

  /**
   * Ingest's sweep, for an erasure that died after its mark was recorded and before it ended its note: the
   * current keys are bounded by its mark (it may have died before doing so; idempotent, and harmless for a key
   * created after the mark), then the note ends. Erasing again would take the history after its mark.
   */
  async finishAfterMark(
    profileId: string,
    erasure: { erasureId: string; owner: string },
    mark: { topic: string | null; partition: number | null; offset: string },
  ): Promise<void> {
    const { topic, partition, offset } = mark;
    if (topic !== null && partition !== null) await this.keys.boundByMark(profileId, { topic, partition, offset });
    await this.inProgress.end(profileId, erasure.erasureId, erasure.owner);
  }

  private async run(
    profileId: string,
    options: { requestId?: string; erasureId?: string; by: 'api' | 'finisher'; onlyIfTakingOver: boolean },
  ): Promise<{ erasureId: string; acceptedAt: number; tookOver: string[] } | null> {
    // Marks, fences and re-drive sources are offsets of this region's log only (review, session 6): until they
    // name their Kafka cluster, an erasure across regions could resurrect or lose events (ADR 12, known gaps).
    if (spansSeveralDataCenters(this.config)) throw new NotSupportedAcrossRegionsError('profile erasure');
    const { requestId, erasureId = randomUUID(), by } = options;
    const leaseMs = this.config.profileKeys.erasureLeaseMs;
    // Erasures of the profile whose lease ran out: this one carries them out, and they can no longer renew. Not
    // one whose owner (a retry that took it over) still holds its own lease: that retry is alive, and its mark
    // bounds it (two at once would put two marks, and erase what lies between them).
    const before = await this.inProgress.of(profileId);
    const alive = new Set(before.filter((e) => e.leased).map((e) => e.erasureId));
    const tookOver: string[] = [];
    for (const e of before) {
      if (e.leased || e.erasureId === erasureId || alive.has(e.owner)) continue;
      if (await this.inProgress.takeOver(profileId, e.erasureId, e.owner, erasureId, leaseMs))
        tookOver.push(e.erasureId);
    }
    if (options.onlyIfTakingOver && tookOver.length === 0) return null;
    await this.inProgress.begin(profileId, erasureId, leaseMs);
    const acceptedAt = Date.now();
    // Earlier erasures without a mark are bounded by this one's mark too (a retry's mark lies after all they
    // covered), but not one still in progress under another owner: it records its own mark, so it never ends up
    // with a recorded mark before a key it shreds afterwards. Read again AFTER the ledger: one that began after
    // `before` was read may have shredded a key already (review of the merge), and `begin` precedes its first
    // shredding or ledger row, so this read sees every such erasure.
    const unmarked = (await this.ledger.erasures(profileId)).filter((e) => e.mark === null).map((e) => e.erasureId);
    const othersInProgress = new Set(
      (await this.inProgress.of(profileId)).filter((e) => e.owner !== erasureId).map((e) => e.erasureId),
    );
    const bounded = unmarked.filter((id) => !othersInProgress.has(id));
    const hold = () => this.hold(profileId, erasureId, tookOver, leaseMs);
    await this.keys.erase(profileId, erasureId, acceptedAt, hold);
    await hold();
    // The index rows (profile ids by day, no viewing data) go when ingest meets the mark, dated and recorded there.
    const erased = await this.stored.erase(profileId, { indexRows: false, hold });
    await hold();
    // The mark names the erasures it bounds too: ingest records it for them as for this one, should this process
    // die before recording it (they would otherwise be finished again, erasing the history after this mark).
    const covers = [...new Set([...bounded, ...tookOver])].filter((id) => id !== erasureId);
    const [at] = await this.publisher.publishEncoded(
      [{ key: profileId, value: encodeProfileErasedMark({ profileId, erasureId, acceptedAt, covers }) }],
      requestId,
    );
    // The mark is on the log: the erasure is done, by this mark or by the one of an erasure that took it over
    // (this process stalled past its lease before publishing: its mark is late, and ingest skips it as
    // superseded, ADR 9). Nothing after this answers an error: the caller would erase again, and that later mark
    // take the history since. Recorded and bounded only while the lease holds (a late mark recorded first would
    // count); otherwise, or if the renewal fails, ingest records and bounds when it meets the mark.
    try {
      await this.recordAndBound(profileId, erasureId, [erasureId, ...covers], tookOver, at, leaseMs);
    } catch (error) {
      // Ingest records it when it meets the mark, and its sweep ends the notes.
      this.logger.warn(
        `erasure ${erasureId} of ${profileId}: its mark is on the log; recording it failed: ${(error as Error).message}`,
      );
    }
    metrics.profileErasures.inc({ by });
    this.logger.log(
      `profile erased (erasure ${erasureId}${tookOver.length > 0 ? `, finishing ${tookOver.join(', ')}` : ''}): ` +
        `${erased.liveRows} live rows, compressed history replaced`,
    );
    return { erasureId, acceptedAt, tookOver };
  }

  /**
   * After the mark: where it lies, the keys' bound by it, the end of the notes. Only while the lease holds (a late
   * mark recorded first would count, and bounding by it would hide the history since the one that counted).
   */
  private async recordAndBound(
    profileId: string,
    erasureId: string,
    recordFor: readonly string[],
    tookOver: readonly string[],
    at: { topic: string; partition: number; baseOffset: string },
    leaseMs: number,
  ): Promise<void> {
    if (!(await this.inProgress.hold(profileId, erasureId, leaseMs, tookOver))) {
      this.logger.warn(`erasure ${erasureId} of ${profileId}: its mark is on the log; its lease no longer holds`);
      return;
    }
    // Until this is written the erasure counts as in progress: backups leave the profile out, and re-drive
    // refuses its dead letters (the erasures before this one without a mark are bounded by this mark too).
    await this.ledger.recordMark(profileId, [...recordFor], {
      topic: at.topic,
      partition: at.partition,
      offset: at.baseOffset,
    });
    // A key created after the key step's last read sealed nothing before the mark that may open (ADR 9, step 3).
    // At the position recorded for the erasure (the first recorded wins: a copy of this mark a producer's retry
    // put earlier, met by ingest first, is the one that counts), at once rather than when ingest meets it (which
    // bounds too).
    await this.keys
      .recordedMarkOf(profileId, erasureId)
      .then((recorded) => (recorded === null ? undefined : this.keys.boundByMark(profileId, recorded)))
      .catch((error: Error) =>
        this.logger.warn(
          `bounding the keys of ${profileId} by its erasure's mark failed (ingest does it): ${error.message}`,
        ),
      );
    for (const id of [erasureId, ...tookOver]) await this.inProgress.end(profileId, id, erasureId);
  }

  /**
   * Before each step: renews this erasure's lease and those of the erasures it took over, together (a step is
   * shorter than a lease, the whole erasure may not be: one it took over must not run out meanwhile and be taken
   * from it). A process that stalled past its lease, and was taken over meanwhile, stops here.
   */
  private async hold(
    profileId: string,
    erasureId: string,
    tookOver: readonly string[],
    leaseMs: number,
  ): Promise<void> {
    if (await this.inProgress.hold(profileId, erasureId, leaseMs, tookOver)) return;
    throw new ErasureInProgressError(
      [{ id: profileId, reason: `erasure ${erasureId} outlived its lease and was taken over by another erasure` }],
      'erasure',
    );
  }
}
