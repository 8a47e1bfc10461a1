import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiErrorResponses, Authorize, callerOf, requestIdOf } from '@vh/http';
import { EventIntake } from './event-intake';
import { POST_EVENTS, postEvents } from './post-events';

/**
 * Devices post playback events here. 202 means Kafka has them (acks = all). The plain posts (a UTF-8 JSON body on
 * this exact path) are served before the framework (EventsDirectRoute); this takes the rest, answering alike.
 */
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
  @Authorize(POST_EVENTS)
  async post(@Body() body: unknown, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const answer = await postEvents(this.intake, body, callerOf(request), requestIdOf(request));
    response.status(answer.status);
    return answer.body;
  }
}
