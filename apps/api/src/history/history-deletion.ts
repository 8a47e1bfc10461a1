import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DeletionEvent, titleRemovedEvent } from '@vh/domain';
import { ViewingEventPublisher } from '@vh/messaging';

/** Deletions go through the event log like everything else, so a replay reproduces them. */
@Injectable()
export class HistoryDeletion {
  constructor(private readonly publisher: ViewingEventPublisher) {}

  async removeRecord(profileId: string, recordId: string, requestId?: string): Promise<DeletionEvent> {
    const now = Date.now();
    const event: DeletionEvent = {
      type: 'record-removed',
      eventId: randomUUID(),
      profileId,
      recordId,
      occurredAt: now,
      acceptedAt: now,
    };
    await this.publisher.publish([event], requestId);
    return event;
  }

  /** Every record of the title first accepted at or before now goes; later viewing of it counts again. */
  async removeTitle(profileId: string, titleId: string, requestId?: string): Promise<DeletionEvent> {
    const event = titleRemovedEvent(profileId, titleId, randomUUID(), Date.now());
    await this.publisher.publish([event], requestId);
    return event;
  }

  async clearHistory(profileId: string, requestId?: string): Promise<DeletionEvent> {
    // The clear hides every session first accepted at or before this instant (one clock, invariant 6).
    const now = Date.now();
    const event: DeletionEvent = {
      type: 'history-cleared',
      eventId: randomUUID(),
      profileId,
      occurredAt: now,
      acceptedAt: now,
    };
    await this.publisher.publish([event], requestId);
    return event;
  }
}
