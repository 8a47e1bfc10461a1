import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { z } from 'zod/v4';
import { InvalidInputError } from '@vh/domain';
import { DeadLetters, MAX_PAGE_SIZE } from '@vh/dead-letters';
import { ApiErrorResponses, Authorize, callerOf, SCOPES } from '@vh/http';
import { parseWith } from '../shared/request-parsing';

const deadLetterId = z.string().regex(/^\d{1,5}-\d{1,19}$/, 'must be a dead letter id: partition-offset, e.g. 0-42');

/** Operators: the messages ingest could not process, their reasons and payloads; re-drive and purge them. */
@Authorize({ scope: SCOPES.deadLettersAdmin })
@ApiErrorResponses(400, 401, 403, 409, 503)
@Controller('v1/admin/dead-letters')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLetters) {}

  /** A page in topic order: `?reason=TEXT&after=ID&limit=N` (at most 1,000; one call scans at most 10,000). */
  @Get()
  async list(@Query() query: unknown) {
    const { reason, after, limit } = parseWith(
      z.object({
        reason: z.string().min(1).max(200).optional(),
        after: deadLetterId.optional(),
        limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
      }),
      query,
    );
    const [page, count] = await Promise.all([
      this.deadLetters.list({ reason, after, limit }),
      this.deadLetters.count(),
    ]);
    return { ...page, pending: count.pending };
  }

  /** How many letters wait, per partition (the console's overview). */
  @Get('count')
  count() {
    return this.deadLetters.count();
  }

  @Get(':id')
  show(@Param('id') id: string) {
    return this.deadLetters.show(parseWith(deadLetterId, id));
  }

  /** `{"ids": [...]}` | `{"all": true}`: the original messages go back on the event log. */
  @Post('redrive')
  @HttpCode(200)
  redrive(@Body() body: unknown, @Req() request: Request) {
    const target = parseWith(
      z
        .object({ ids: z.array(deadLetterId).min(1).max(MAX_PAGE_SIZE).optional(), all: z.literal(true).optional() })
        .strict(),
      body,
    );
    if ((target.ids === undefined) === (target.all === undefined)) {
      throw new InvalidInputError([{ field: '(body)', message: 'give exactly one of ids or all' }]);
    }
    const by = `operator:${callerOf(request).subject}`;
    return target.all ? this.deadLetters.redriveAll(by) : this.deadLetters.redrive(target.ids!, by);
  }

  /** `{"through": "0-42"}` (that letter and every older one of its partition) | `{"all": true}`. */
  @Post('purge')
  @HttpCode(200)
  purge(@Body() body: unknown, @Req() request: Request) {
    const target = parseWith(
      z.object({ through: deadLetterId.optional(), all: z.literal(true).optional() }).strict(),
      body,
    );
    return this.deadLetters.purge(target, `operator:${callerOf(request).subject}`);
  }
}
