import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { FieldIssue, ForbiddenError, InvalidInputError, PlaybackEvent, validatePlaybackEvent } from '@vh/domain';
import { AccessRule, Caller, mayActOnProfile, SCOPES } from '@vh/http';
import { metrics } from '@vh/metrics';
import { ViewingEventPublisher } from '@vh/messaging';

/** Who may post events: devices, for their own profiles (checked per event, assertMayPost). */
export const POST_EVENTS: AccessRule = { scope: SCOPES.eventsWrite };

/** The answer to a post: its status and body, alike whichever route took it (EventsController, EventsDirectRoute). */
export interface PostAnswer {
  status: 202 | 207 | 400;
  body: { eventId: string; status: 'accepted' } | { accepted: number; rejected: number; results: ItemOutcome[] };
}

export type ItemOutcome =
  { index: number; eventId: string; status: 'accepted' } | { index: number; status: 'rejected'; issues: FieldIssue[] };

/** Validates what devices post and appends the valid events to the event log. */
@Injectable()
export class EventIntake {
  constructor(
    private readonly publisher: ViewingEventPublisher,
    private readonly config: AppConfig,
  ) {}

  /**
   * What devices post: one event, or `{ "events": [...] }`. A batch answers 202 when every item was accepted, 207
   * when some were, and 400 when none was, with each item's outcome.
   */
  async accept(body: unknown, caller: Caller, requestId?: string): Promise<PostAnswer> {
    if (isBatch(body)) {
      const results = await this.acceptBatch(body.events, caller, requestId);
      const accepted = results.filter((r) => r.status === 'accepted').length;
      const status = accepted === results.length ? 202 : accepted === 0 ? 400 : 207;
      return { status, body: { accepted, rejected: results.length - accepted, results } };
    }
    const event = await this.acceptOne(body, caller, requestId);
    return { status: 202, body: { eventId: event.eventId, status: 'accepted' } };
  }

  /** One event: valid and acknowledged by Kafka, or an InvalidInputError. */
  async acceptOne(body: unknown, caller: Caller, requestId?: string): Promise<PlaybackEvent> {
    const policy = this.timePolicy();
    const result = validatePlaybackEvent(body, policy);
    if (!result.ok) {
      metrics.eventsRejected.inc();
      throw new InvalidInputError(result.issues);
    }
    const event = accepted(result.value, policy.now);
    assertMayPost(caller, [event]);
    await this.publisher.publish([event], requestId);
    metrics.eventsAccepted.inc();
    return event;
  }

  /** A batch: every valid item is appended; each item's outcome is reported. */
  async acceptBatch(items: unknown, caller: Caller, requestId?: string): Promise<ItemOutcome[]> {
    const max = this.config.events.maxBatchSize;
    if (!Array.isArray(items) || items.length === 0 || items.length > max) {
      throw new InvalidInputError([{ field: 'events', message: `must be an array of 1 to ${max} events` }]);
    }
    const policy = this.timePolicy();
    const valid: PlaybackEvent[] = [];
    const outcomes = items.map((item, index): ItemOutcome => {
      const result = validatePlaybackEvent(item, policy);
      if (!result.ok) return { index, status: 'rejected', issues: result.issues };
      valid.push(accepted(result.value, policy.now));
      return { index, eventId: result.value.eventId, status: 'accepted' };
    });
    assertMayPost(caller, valid);
    await this.publisher.publish(valid, requestId);
    metrics.eventsAccepted.inc(valid.length);
    metrics.eventsRejected.inc(outcomes.length - valid.length);
    return outcomes;
  }

  private timePolicy() {
    return {
      now: Date.now(),
      maxClockSkewMs: this.config.events.maxClockSkewMs,
      maxEventAgeMs: this.config.events.maxEventAgeMs,
    };
  }
}

/**
 * Our receive time on the event: clears are judged on it, never on the device's clock (invariant 6). Stamped on the
 * validated event, a new object of ours (validatePlaybackEvent): a copy an event was 1.7% of the collector's CPU.
 */
function accepted(event: PlaybackEvent, now: number): PlaybackEvent {
  event.acceptedAt = now;
  return event;
}

/** A device posts for its own profiles only; one foreign profile refuses the whole request. */
function assertMayPost(caller: Caller, events: PlaybackEvent[]): void {
  const foreign = events.find((e) => !mayActOnProfile(caller, SCOPES.eventsWrite, e.profileId));
  if (foreign) throw new ForbiddenError(`the token does not allow posting events for profile ${foreign.profileId}`);
}

function isBatch(body: unknown): body is { events: unknown } {
  return (
    typeof body === 'object' &&
    body !== null &&
    !Array.isArray(body) &&
    'events' in body &&
    Object.keys(body).length === 1
  );
}
