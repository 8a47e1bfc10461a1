import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiErrorResponses, Authorize, SCOPES, callerOf, requestIdOf } from '@vh/http';
import { EventIntake } from './event-intake';

/** Devices post playback events here. 202 means Kafka has them (acks = all). */
@ApiErrorResponses(400, 401, 403, 413, 503)
@Controller('v1/events')
export class EventsController {
  constructor(private readonly intake: EventIntake) {}

  /**
   * One event, or `{ "events": [...] }`. A batch answers 202 when every item was accepted, 207 when
   * some were, and 400 when none was, with each item's outcome.
   */
  @Post()
  @HttpCode(202)
  @Authorize({ scope: SCOPES.eventsWrite })
  async post(@Body() body: unknown, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const requestId = requestIdOf(request);
    const caller = callerOf(request);
    if (isBatch(body)) {
      const results = await this.intake.acceptBatch(body.events, caller, requestId);
      const accepted = results.filter((r) => r.status === 'accepted').length;
      response.status(accepted === results.length ? 202 : accepted === 0 ? 400 : 207);
      return { accepted, rejected: results.length - accepted, results };
    }
    const event = await this.intake.acceptOne(body, caller, requestId);
    return { eventId: event.eventId, status: 'accepted' };
  }
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
