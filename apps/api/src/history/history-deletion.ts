import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DeletionEvent } from '@vh/domain';
import { ViewingEventPublisher } from '@vh/messaging';

/** Deletions go through the event log like everything else, so a replay reproduces them. */
@Injectable()
export class HistoryDeletion {
  constructor(private readonly publisher: ViewingEventPublisher) {}

  async removeRecord(profileId: string, recordId: string, requestId?: string): Promise<DeletionEvent> {
    const event: DeletionEvent = {
      type: 'record-removed',
      eventId: randomUUID(),
      profileId,
      recordId,
      occurredAt: Date.now(),
    };
    await this.publisher.publish([event], requestId);
    return event;
  }

  async clearHistory(profileId: string, requestId?: string): Promise<DeletionEvent> {
    const event: DeletionEvent = { type: 'history-cleared', eventId: randomUUID(), profileId, occurredAt: Date.now() };
    await this.publisher.publish([event], requestId);
    return event;
  }
}
