import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { encodeProfileErasedMark, ProfileKeys } from '@vh/erasure';
import { ViewingEventPublisher } from '@vh/messaging';
import { metrics } from '@vh/metrics';
import { StoredHistoryEraser } from '@vh/storage';

/**
 * Erases a profile for good (docs/adr/0009): its key first (every sealed copy of its events, on the log
 * and in backups, becomes unreadable), then the mark on the log (ingest erases again after everything the
 * log held before it, and every restore replays it), then what is stored, at once. Each step is idempotent:
 * a caller told 503 half-way calls again.
 */
@Injectable()
export class ProfileErasure {
  private readonly logger = new Logger(ProfileErasure.name);

  constructor(
    private readonly keys: ProfileKeys,
    private readonly publisher: ViewingEventPublisher,
    private readonly stored: StoredHistoryEraser,
  ) {}

  async erase(profileId: string, requestId?: string): Promise<{ erasureId: string; acceptedAt: number }> {
    const erasureId = randomUUID();
    const acceptedAt = Date.now();
    await this.keys.erase(profileId, erasureId, acceptedAt);
    await this.publisher.publishEncoded(
      [{ key: profileId, value: encodeProfileErasedMark({ profileId, erasureId, acceptedAt }) }],
      requestId,
    );
    const erased = await this.stored.erase(profileId);
    metrics.profileErasures.inc({ by: 'api' });
    this.logger.log(`profile erased (erasure ${erasureId}): ${erased.liveRows} live rows, compressed history replaced`);
    return { erasureId, acceptedAt };
  }
}
