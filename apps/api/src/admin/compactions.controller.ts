import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod/v4';
import { InvalidInputError } from '@vh/domain';
import { ApiErrorResponses, Authorize, SCOPES } from '@vh/http';
import { identifierSchema, parseWith } from '../shared/request-parsing';
import { CompactionRequests } from '../shared/compaction-requests';

const MAX_PROFILES = 1_000;

/** Operators: trigger compaction (one profile, a list, or every profile with old live history) and follow it. */
@Authorize({ scope: SCOPES.compactionAdmin })
@ApiErrorResponses(400, 401, 403, 503)
@Controller('v1/admin/compactions')
export class CompactionsController {
  constructor(private readonly requests: CompactionRequests) {}

  /** `{"profileId"}` | `{"profileIds": [...]}` | `{"all": true}`, with optional `"dryRun": true`. */
  @Post()
  @HttpCode(202)
  async start(@Body() body: unknown) {
    const request = parseWith(
      z
        .object({
          profileId: identifierSchema.optional(),
          profileIds: z.array(identifierSchema).min(1).max(MAX_PROFILES).optional(),
          all: z.literal(true).optional(),
          dryRun: z.boolean().default(false),
        })
        .strict(),
      body,
    );
    const targets = [request.profileId, request.profileIds, request.all].filter((t) => t !== undefined);
    if (targets.length !== 1) {
      throw new InvalidInputError([{ field: '(body)', message: 'give exactly one of profileId, profileIds or all' }]);
    }
    if (request.profileId !== undefined) {
      return {
        jobId: await this.requests.compactProfile(request.profileId, request.dryRun, 'operator'),
        kind: 'profile',
      };
    }
    return { jobId: await this.requests.sweep(request.profileIds, request.dryRun), kind: 'sweep' };
  }

  /** The newest jobs (`?limit=`, at most 200) with state, progress, outcome and failure reason; queue depth. */
  @Get()
  recent(@Query('limit') limit?: string) {
    const { value } = parseWith(z.object({ value: z.coerce.number().int().min(1).max(200).default(50) }), {
      value: limit,
    });
    return this.requests.recent(value);
  }

  @Get(':id')
  async status(@Param('id') id: string) {
    const view = /^[A-Za-z0-9:_-]{1,100}$/.test(id) ? await this.requests.describe(id) : null;
    if (!view) throw new NotFoundException(`no compaction job ${id}`);
    return view;
  }
}
