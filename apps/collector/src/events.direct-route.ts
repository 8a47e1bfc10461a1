import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { AccessTokens, Caller, DirectRoute, LoadSheddingGate } from '@vh/http';
import { EventIntake } from './event-intake';
import { POST_EVENTS, PostAnswer, postEvents } from './post-events';

/**
 * POST /v1/events before the framework: the collector's hot path. Through Nest and Express a post cost 285-366 µs
 * more CPU, most of a one-event post's (1.55-1.65x the events/s here; bench/ANALYSIS.md, session 19); served here,
 * it keeps their contract (DirectRoute) and answers through the same intake as EventsController, which takes the
 * posts this does not.
 */
@Injectable()
export class EventsDirectRoute extends DirectRoute implements OnModuleInit {
  constructor(
    private readonly intake: EventIntake,
    private readonly gate: LoadSheddingGate,
    tokens: AccessTokens,
    config: AppConfig,
  ) {
    super({ method: 'POST', path: '/v1/events', access: POST_EVENTS }, tokens, config.http.bodyLimitBytes);
  }

  onModuleInit(): void {
    this.gate.serveDirectly(this);
  }

  protected answer(body: unknown, caller: Caller, requestId: string): Promise<PostAnswer> {
    return postEvents(this.intake, body, caller, requestId);
  }
}
