import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { once } from 'node:events';
import { z } from 'zod/v4';
import { AppConfig } from '@vh/config';
import { InvalidInputError } from '@vh/domain';
import { ApiErrorResponses, Authorize, SCOPES } from '@vh/http';
import { identifierSchema, instantSchema, parseWith } from '../shared/request-parsing';
import { toView } from './history-request';
import { ViewingHistoryReader } from './viewing-history.reader';

/** For recommendation jobs: many profiles at once, and a streaming export of recent history. */
@Authorize({ scope: SCOPES.historyReadAll })
@ApiErrorResponses(400, 401, 403, 413, 503)
@Controller('v1')
export class BulkHistoryController {
  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly config: AppConfig,
  ) {}

  /** `{"profiles": [{"profileId", "since"?}], "limit"?}`: each profile's records changed since a time, newest first. */
  // A custom method in the Google API style; the colon is escaped so that it is not a route parameter.
  @Post('history\\:batchGet')
  @HttpCode(200)
  async batchGet(@Body() body: unknown) {
    const { maxPageSize, batchMaxProfiles } = this.config.history;
    const request = parseWith(
      z
        .object({
          profiles: z
            .array(z.object({ profileId: identifierSchema, since: instantSchema.optional() }).strict())
            .min(1)
            .max(batchMaxProfiles),
          limit: z.number().int().min(1).max(maxPageSize).default(maxPageSize),
        })
        .strict(),
      body,
    );
    const ids = [...new Set(request.profiles.map((p) => p.profileId))];
    const histories = await this.reader.readMany(ids);
    return {
      results: request.profiles.map(({ profileId, since }) => {
        const records = histories.get(profileId)!.filter((r) => since === undefined || r.lastEventAt >= since);
        return {
          profileId,
          records: records.slice(0, request.limit).map(toView),
          truncated: records.length > request.limit,
        };
      }),
    };
  }

  /**
   * NDJSON: one `{"type":"record","profileId",...}` line per record changed since `since`, then one
   * `{"type":"end",...}` line; a stream without its end line is incomplete. Walks the live table by
   * token ranges, so memory stays bounded whatever the table size.
   */
  @Get('history/export')
  async export(@Query() query: Record<string, unknown>, @Res() response: Response): Promise<void> {
    const { since } = parseWith(z.object({ since: instantSchema }).strict(), query);
    response.status(200).setHeader('content-type', 'application/x-ndjson; charset=utf-8');
    let profiles = 0;
    let records = 0;
    const write = async (line: object) => {
      if (!response.write(`${JSON.stringify(line)}\n`)) await once(response, 'drain');
    };
    try {
      for await (const history of this.reader.recentHistory(since)) {
        if (response.destroyed) return;
        profiles++;
        for (const record of history.records) {
          records++;
          await write({ type: 'record', profileId: history.profileId, ...toView(record) });
        }
      }
      await write({ type: 'end', since: new Date(since).toISOString(), profiles, records });
    } catch (error) {
      await write({
        type: 'error',
        message: error instanceof InvalidInputError ? error.message : 'export interrupted; retry',
      }).catch(() => undefined);
    } finally {
      response.end();
    }
  }
}
