import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod/v4';
import { AppConfig } from '@vh/config';
import { ViewingHistoryError } from '@vh/domain';
import { ApiErrorResponses, Authorize, SCOPES } from '@vh/http';
import { identifierSchema, instantSchema, parseWith } from '../shared/request-parsing';
import { toView } from './history-request';
import { HistoryExport } from './history-export';
import { ViewingHistoryReader } from './viewing-history.reader';

/** Built once (a zod object schema built per request costs far more than parsing with it; issue 14). */
const exportQuerySchema = z.object({ since: instantSchema, after: z.string().min(1).max(1_000).optional() }).strict();
const batchGetSchema = (maxPageSize: number, batchMaxProfiles: number) =>
  z
    .object({
      profiles: z
        .array(z.object({ profileId: identifierSchema, since: instantSchema.optional() }).strict())
        .min(1)
        .max(batchMaxProfiles),
      limit: z.number().int().min(1).max(maxPageSize).default(maxPageSize),
    })
    .strict();

/** For recommendation jobs: many profiles at once, and a streaming export of recent history. */
@Authorize({ scope: SCOPES.historyReadAll })
@ApiErrorResponses(400, 401, 403, 413, 503)
@Controller('v1')
export class BulkHistoryController {
  private readonly batchGetSchema: ReturnType<typeof batchGetSchema>;

  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly exports: HistoryExport,
    config: AppConfig,
  ) {
    this.batchGetSchema = batchGetSchema(config.history.maxPageSize, config.history.batchMaxProfiles);
  }

  /** `{"profiles": [{"profileId", "since"?}], "limit"?}`: each profile's records changed since a time, newest first. */
  // A custom method in the Google API style; the colon is escaped so that it is not a route parameter.
  @Post('history\\:batchGet')
  @HttpCode(200)
  async batchGet(@Body() body: unknown) {
    const request = parseWith(this.batchGetSchema, body);
    // One page per profile, read chunk by chunk: memory stays bounded whatever a profile's size.
    const pages = await this.reader.readMany(request.profiles, request.limit);
    return {
      results: request.profiles.map(({ profileId }, i) => {
        const page = pages[i];
        // The other profiles are answered; this one says plainly that it failed (invariant 4).
        if (!('records' in page)) return { profileId, ...page };
        return { profileId, records: page.records.map(toView), truncated: page.nextCursor !== null };
      }),
    };
  }

  /**
   * NDJSON, one line per record changed since `since` (`{"type":"record","profileId",...,"position"}`), an
   * error line per profile that cannot be read (`"error"`: `corrupt_history`, or `profile_unavailable` for one
   * that kept failing while its neighbours did not),
   * then one closing line (`{"type":"end","since","completeUpTo","walk","profiles","records","failures"}`);
   * a stream without its closing line is incomplete: resume it with `after=` the last line's position.
   */
  @Get('history/export')
  async export(@Query() query: Record<string, unknown>, @Res() response: Response): Promise<void> {
    const { since, after } = parseWith(exportQuerySchema, query);
    const progress = this.exports.begin(since, after);
    response.status(200).setHeader('content-type', 'application/x-ndjson; charset=utf-8');
    let position = after ?? null;
    const write = async (line: object) => {
      if (!response.write(`${JSON.stringify(line)}\n`)) {
        // A dropped connection never drains: stop waiting when it closes.
        await new Promise((resolve) => {
          response.once('drain', resolve);
          response.once('close', resolve);
        });
      }
    };
    try {
      for await (const line of this.exports.lines(progress)) {
        if (response.destroyed) return;
        await write(line);
        if (line.type !== 'end') position = line.position;
      }
    } catch (error) {
      const code = error instanceof ViewingHistoryError ? error.code : 'internal_error';
      await write({
        type: 'error',
        error: code,
        message: 'export interrupted: resume with after= the position of this line',
        position,
      }).catch(() => undefined);
    } finally {
      response.end();
    }
  }
}
