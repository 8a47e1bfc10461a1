import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, spansSeveralDataCenters } from '@vh/config';
import { ErasureInProgressError, NotSupportedAcrossRegionsError } from '@vh/domain';
import { randomUUID } from 'node:crypto';
import { ViewingEventPublisher } from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { StoredHistoryEraser } from '@vh/storage';
import { ErasureLedger } from './erasure-ledger';
import { ErasureInProgress, ErasuresInProgress } from './erasures-in-progress';
import { ProfileKeys } from './profile-keys';
import { encodeProfileErasedMark } from './sealed-message';

/**
 * Erases a profile for good (docs/adr/0009): its key first (every sealed copy of its events, on the log
 * and in backups, becomes unreadable), then what is stored, at once, then the mark on the log (ingest erases
 * again after everything the log held before it, and every restore replays it), then where the mark lies, in
 * the ledger. What is stored is erased BEFORE the mark exists: everything it can see came from the log
 * before the mark, so it can never remove an event after it (the member's new history; invariant 1), and no
 * clock decides (invariant 6). Each step is idempotent: a caller told 503 half-way calls again (the failed
 * erasure's lease released, the retry takes it over).
 *
 * The erasure is noted in progress before its first step, leased, and renews its lease before each step. One
 * whose lease ran out without its mark (its process died or stalled) is taken over by the next erasure of the
 * profile, which ingest's sweep starts by itself (AbandonedErasureFinisher); a stalled process that wakes after
 * that finds its lease taken and stops before its next step (ErasureInProgressError), so it cannot erase the
 * history that followed the retry's mark. One erasure of a profile runs at a time (another is refused), so no
 * 202 is followed by a mark the caller did not ask for.
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
    // One erasure of a profile runs at a time: another's mark, still to come, would erase what the member posts
    // after this one's 202 (review of session 14). Refused before any step, so nothing of this one happens.
    const before = await this.inProgress.of(profileId);
    const running = othersRunning(before, erasureId);
    if (running.length > 0) return this.refuse(profileId, running, by);
    // Erasures of the profile whose lease ran out: this one carries them out, and they can no longer renew. Not
    // one whose owner (a retry that took it over) still holds its own lease: that retry is alive, and its mark
    // bounds it (two at once would put two marks, and erase what lies between them).
    const alive = new Set(before.filter((e) => e.leased).map((e) => e.erasureId));
    const tookOver: string[] = [];
    try {
      for (const e of before) {
        if (e.leased || e.erasureId === erasureId || alive.has(e.owner)) continue;
        if (await this.inProgress.takeOver(profileId, e.erasureId, e.owner, erasureId, leaseMs))
          tookOver.push(e.erasureId);
      }
      if (options.onlyIfTakingOver && tookOver.length === 0) return null;
      await this.inProgress.begin(profileId, erasureId, leaseMs);
      // Another erasure noted since `before` was read (`of` reads at LOCAL_SERIAL: of two, the later read sees the
      // other's `begin`): this one refuses, both may (safe). What it took over is released, to be taken at once.
      const begun = othersNoted(await this.inProgress.of(profileId), erasureId);
      if (begun.length > 0) {
        await this.inProgress.end(profileId, erasureId, erasureId);
        await this.inProgress.release(profileId, erasureId, tookOver);
        return this.refuse(profileId, begun, by);
      }
      return await this.carryOut(profileId, erasureId, tookOver, { requestId, by, leaseMs });
    } catch (error) {
      // A caller told 503 retries and takes it over at once, rather than being refused until its lease runs out
      // (if the release can be written). Not the finisher's: its next sweep would begin again at once, each time
      // taking the last over (a lasting failure then retries once a sweep, not once a lease).
      if (by === 'api') {
        await this.inProgress
          .release(profileId, erasureId, [erasureId, ...tookOver])
          .catch((released: Error) => this.logger.warn(`releasing erasure ${erasureId}: ${released.message}`));
      }
      throw error;
    }
  }

  /** The steps of an erasure noted in progress and alone on its profile: keys, stored history, mark, records. */
  private async carryOut(
    profileId: string,
    erasureId: string,
    tookOver: string[],
    { requestId, by, leaseMs }: { requestId?: string; by: 'api' | 'finisher'; leaseMs: number },
  ): Promise<{ erasureId: string; acceptedAt: number; tookOver: string[] }> {
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
    // The mark is on the log. Done, if its conditional renewal applies: nobody took it over, and no other erasure
    // runs (refused above), so its mark alone erases (an error would have the caller erase again, and take the
    // history since). Recorded and bounded only then (a late mark recorded first would count); if that fails,
    // ingest records and bounds when it meets the mark.
    if (!(await this.inProgress.hold(profileId, erasureId, leaseMs, tookOver))) {
      const notes = await this.inProgress.of(profileId);
      // An erasure it carried ended meanwhile (its own mark met and recorded): the rest renewed without it.
      const stillCarried = tookOver.filter((id) => notes.some((e) => e.erasureId === id));
      const held =
        notes.every((e) => e.owner === erasureId) &&
        (await this.inProgress.hold(profileId, erasureId, leaseMs, stillCarried));
      if (!held) {
        // Its own notes left (its own row ended after a mark of it was recorded) bound no later mark.
        this.confirmFinishedByOthers(profileId, erasureId, othersNoted(notes, erasureId), by);
        return { erasureId, acceptedAt, tookOver };
      }
    }
    try {
      await this.recordAndBound(profileId, erasureId, [erasureId, ...covers], tookOver, at);
    } catch (error) {
      // Ingest records it when it meets the mark, and its sweep ends the notes.
      this.logger.warn(
        `erasure ${erasureId} of ${profileId}: its mark is on the log; recording it failed: ${(error as Error).message}`,
      );
    }
    // Every erasure is noted from before its first step until after its mark: one noted now may still put a mark
    // after this answer (one that began beside it and whose refusal did not end its note, one that stalled past its
    // lease in between), so a 202 waits until none is (ADR 9).
    const others = othersNoted(await this.inProgress.of(profileId), erasureId);
    if (others.length > 0) return this.refuse(profileId, others, by) ?? { erasureId, acceptedAt, tookOver };
    metrics.profileErasures.inc({ by });
    this.logger.log(
      `profile erased (erasure ${erasureId}${tookOver.length > 0 ? `, finishing ${tookOver.join(', ')}` : ''}): ` +
        `${erased.liveRows} live rows, compressed history replaced`,
    );
    return { erasureId, acceptedAt, tookOver };
  }

  /** While another erasure of the profile is in progress: the API's answers 409 (retry once it finished), the finisher's stops. */
  private refuse(profileId: string, running: readonly ErasureInProgress[], by: 'api' | 'finisher'): null {
    if (by === 'finisher') return null;
    throw new ErasureInProgressError(
      running.map((e) => ({ id: profileId, reason: `another erasure of the profile is in progress (${e.erasureId})` })),
      'erasure',
    );
  }

  /**
   * After its mark, an erasure whose lease no longer holds: it stalled past its lease before publishing, and
   * another erasure took it over. Done only once no erasure of the profile is in progress: a taker ends a note only
   * after its own mark is on the log (before this one's or after it; ingest skips a late one as superseded), and a
   * taker that died is itself still noted until its own taker's mark is. While one is in progress, its mark is still
   * to come and erases again, so a 202 now would promise to keep what the member posts next, which that mark erases
   * (review of session 13, ADR 9): 409, and the caller retries.
   */
  private confirmFinishedByOthers(
    profileId: string,
    erasureId: string,
    others: readonly ErasureInProgress[],
    by: 'api' | 'finisher',
  ): void {
    if (others.length > 0) {
      this.refuse(profileId, others, by);
      return;
    }
    this.logger.warn(
      `erasure ${erasureId} of ${profileId}: its mark is on the log after its lease ran out; its note was ended (a mark of it, its own or a taker's, is recorded)`,
    );
  }

  /**
   * After the mark, the lease renewed: where it lies, the keys' bound by it, the end of the notes (a late mark
   * recorded first would count, and bounding by it would hide the history since the one that counted).
   */
  private async recordAndBound(
    profileId: string,
    erasureId: string,
    recordFor: readonly string[],
    tookOver: readonly string[],
    at: { topic: string; partition: number; baseOffset: string },
  ): Promise<void> {
    // Until this is written the erasure counts as in progress: backups leave the profile out, and re-drive
    // refuses its dead letters (the erasures before this one without a mark are bounded by this mark too).
    await this.ledger.recordMark(profileId, recordFor, {
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

/** Erasures of the profile noted under another owner, leased or not: their marks may still come. */
function othersNoted(notes: readonly ErasureInProgress[], erasureId: string): ErasureInProgress[] {
  return notes.filter((e) => e.owner !== erasureId);
}

/** Erasures of the profile another erasure is running: their notes leased (an owner renews those it carries). */
function othersRunning(notes: readonly ErasureInProgress[], erasureId: string): ErasureInProgress[] {
  return othersNoted(notes, erasureId).filter((e) => e.leased);
}
