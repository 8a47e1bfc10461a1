import { Controller, Delete, Get, HttpCode, Param, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AppConfig } from '@vh/config';
import { encodeCursor } from '@vh/domain';
import { ApiErrorResponses, Authorize, SCOPES, requestIdOf } from '@vh/http';
import { metrics } from '@vh/metrics';
import { HistoryDeletion } from './history-deletion';
import { parseHistoryQuery, parseLimit, parseProfileId, parseRecordId, parseTitleId, toView } from './history-request';
import { CompactionRequests } from '../shared/compaction-requests';
import { ViewingHistoryReader } from './viewing-history.reader';

@ApiErrorResponses(400, 401, 403, 503)
@Controller('v1/profiles/:profileId')
export class HistoryController {
  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly deletion: HistoryDeletion,
    private readonly config: AppConfig,
    private readonly compactions: CompactionRequests,
  ) {}

  /** The merged history, newest first, one page at a time. An empty history is an empty list. */
  @Get('history')
  @Authorize({ scope: SCOPES.historyRead, profileParam: 'profileId', anyProfileScope: SCOPES.historyReadAll })
  async history(@Param('profileId') profileIdParam: string, @Query() query: Record<string, unknown>) {
    const profileId = parseProfileId(profileIdParam);
    const historyQuery = parseHistoryQuery(query, this.config.history);
    const page = await this.reader.readPage(profileId, historyQuery);
    return {
      profileId,
      records: page.records.map(toView),
      nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
    };
  }

  /** The latest unfinished record of each title, with the position to resume from. */
  @Get('continue-watching')
  @Authorize({ scope: SCOPES.historyRead, profileParam: 'profileId', anyProfileScope: SCOPES.historyReadAll })
  async continueWatching(@Param('profileId') profileIdParam: string, @Query() query: Record<string, unknown>) {
    const profileId = parseProfileId(profileIdParam);
    const limit = parseLimit(query, this.config.history.maxPageSize, this.config.history.defaultPageSize);
    const records = await this.reader.readContinueWatching(profileId, limit);
    return { profileId, records: records.map(toView) };
  }

  @Delete('history/:recordId')
  @Authorize({ scope: SCOPES.historyDelete, profileParam: 'profileId' })
  @HttpCode(202)
  async removeRecord(
    @Param('profileId') profileIdParam: string,
    @Param('recordId') recordIdParam: string,
    @Req() request: Request,
  ) {
    const profileId = parseProfileId(profileIdParam);
    const recordId = parseRecordId(recordIdParam);
    const event = await this.deletion.removeRecord(profileId, recordId, requestIdOf(request));
    return { eventId: event.eventId, status: 'accepted' };
  }

  /** Removes every record of one title accepted until now: 202, an event on the log. */
  @Delete('titles/:titleId/history')
  @Authorize({ scope: SCOPES.historyDelete, profileParam: 'profileId' })
  @HttpCode(202)
  async removeTitle(
    @Param('profileId') profileIdParam: string,
    @Param('titleId') titleIdParam: string,
    @Req() request: Request,
  ) {
    const profileId = parseProfileId(profileIdParam);
    const titleId = parseTitleId(titleIdParam);
    const event = await this.deletion.removeTitle(profileId, titleId, requestIdOf(request));
    metrics.memberControls.inc({ kind: 'title-removed' });
    this.compactions.requestAfterControl(profileId);
    return { eventId: event.eventId, status: 'accepted' };
  }

  @Delete('history')
  @Authorize({ scope: SCOPES.historyDelete, profileParam: 'profileId' })
  @HttpCode(202)
  async clearHistory(@Param('profileId') profileIdParam: string, @Req() request: Request) {
    const profileId = parseProfileId(profileIdParam);
    const event = await this.deletion.clearHistory(profileId, requestIdOf(request));
    return { eventId: event.eventId, status: 'accepted' };
  }
}
