import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, spansSeveralDataCenters } from '@vh/config';
import { NotSupportedAcrossRegionsError } from '@vh/domain';
import { randomUUID } from 'node:crypto';
import { encodeProfileErasedMark, ErasureLedger, ProfileKeys } from '@vh/erasure';
import { ViewingEventPublisher } from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { StoredHistoryEraser } from '@vh/storage';

/**
 * Erases a profile for good (docs/adr/0009): its key first (every sealed copy of its events, on the log
 * and in backups, becomes unreadable), then what is stored, at once, then the mark on the log (ingest erases
 * again after everything the log held before it, and every restore replays it), then where the mark lies, in
 * the ledger. What is stored is erased BEFORE the mark exists: everything it can see came from the log
 * before the mark, so it can never remove an event after it (the member's new history; invariant 1), and no
 * clock decides (invariant 6). Each step is idempotent: a caller told 503 half-way calls again.
 */
@Injectable()
export class ProfileErasure {
  private readonly logger = new Logger(ProfileErasure.name);

  constructor(
    private readonly keys: ProfileKeys,
    private readonly publisher: ViewingEventPublisher,
    private readonly stored: StoredHistoryEraser,
    private readonly ledger: ErasureLedger,
    private readonly config: AppConfig,
  ) {}

  async erase(profileId: string, requestId?: string): Promise<{ erasureId: string; acceptedAt: number }> {
    // Marks, fences and re-drive sources are offsets of this region's log only (review, session 6): until they
    // name their Kafka cluster, an erasure across regions could resurrect or lose events (ADR 12, known gaps).
    if (this.config && spansSeveralDataCenters(this.config))
      throw new NotSupportedAcrossRegionsError('profile erasure');
    const erasureId = randomUUID();
    const acceptedAt = Date.now();
    const unmarked = (await this.ledger.erasures(profileId)).filter((e) => e.mark === null).map((e) => e.erasureId);
    await this.keys.erase(profileId, erasureId, acceptedAt);
    // The index rows (profile ids by day, no viewing data) go when ingest meets the mark: dated by ingest's clock.
    const erased = await this.stored.erase(profileId, { indexRows: false });
    const [at] = await this.publisher.publishEncoded(
      [{ key: profileId, value: encodeProfileErasedMark({ profileId, erasureId, acceptedAt }) }],
      requestId,
    );
    // Until this is written the erasure counts as in progress: backups leave the profile out, and re-drive
    // refuses its dead letters (the erasures before this one without a mark are bounded by this mark too).
    await this.ledger.recordMark(profileId, [erasureId, ...unmarked], {
      topic: at.topic,
      partition: at.partition,
      offset: at.baseOffset,
    });
    metrics.profileErasures.inc({ by: 'api' });
    this.logger.log(`profile erased (erasure ${erasureId}): ${erased.liveRows} live rows, compressed history replaced`);
    return { erasureId, acceptedAt };
  }
}
