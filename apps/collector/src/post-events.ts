import { AccessRule, Caller, SCOPES } from '@vh/http';
import { EventIntake, ItemOutcome } from './event-intake';

/** Who may post events: devices, for their own profiles (checked per event by the intake). */
export const POST_EVENTS: AccessRule = { scope: SCOPES.eventsWrite };

/** The answer to a post: its status and body, alike whichever route took it (EventsController, EventsDirectRoute). */
export interface PostAnswer {
  status: 202 | 207 | 400;
  body: { eventId: string; status: 'accepted' } | { accepted: number; rejected: number; results: ItemOutcome[] };
}

/**
 * What devices post: one event, or `{ "events": [...] }`. A batch answers 202 when every item was accepted, 207
 * when some were, and 400 when none was, with each item's outcome.
 */
export async function postEvents(
  intake: EventIntake,
  body: unknown,
  caller: Caller,
  requestId?: string,
): Promise<PostAnswer> {
  if (isBatch(body)) {
    const results = await intake.acceptBatch(body.events, caller, requestId);
    const accepted = results.filter((r) => r.status === 'accepted').length;
    const status = accepted === results.length ? 202 : accepted === 0 ? 400 : 207;
    return { status, body: { accepted, rejected: results.length - accepted, results } };
  }
  const event = await intake.acceptOne(body, caller, requestId);
  return { status: 202, body: { eventId: event.eventId, status: 'accepted' } };
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
