import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod/v4';
import { AppConfig } from '@vh/config';
import { repairProfileHistory } from '@vh/compaction';
import { ApiErrorResponses, Authorize, SCOPES } from '@vh/http';
import { CompressedHistoryRepository, LiveHistoryRepository } from '@vh/storage';
import { identifierSchema, parseWith } from '../shared/request-parsing';
import { ViewingHistoryReader } from './viewing-history.reader';

const MAX_RECORDS = 500;

/**
 * Operators: one profile as stored (the console's profile page): its merged history, its live rows, the
 * compressed version with every chunk's size and checksum, and repair from the event log.
 */
@Authorize({ scope: SCOPES.compactionAdmin })
@ApiErrorResponses(400, 401, 403, 503)
@Controller('v1/admin/profiles/:profileId')
export class ProfileInspectionController {
  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly live: LiveHistoryRepository,
    private readonly compressed: CompressedHistoryRepository,
    private readonly config: AppConfig,
  ) {}

  /** `?records=N` (at most 500, newest first) of the merged history; everything else in full. */
  @Get()
  async inspect(@Param('profileId') profileId: string, @Query('records') records?: string) {
    const id = parseWith(identifierSchema, profileId);
    const { limit } = parseWith(z.object({ limit: z.coerce.number().int().min(1).max(MAX_RECORDS).default(100) }), {
      limit: records,
    });
    const [history, liveEvents, version] = await Promise.all([
      this.reader.read(id),
      this.live.readProfile(id),
      this.compressed.readVersion(id),
    ]);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      profileId: id,
      recordCount: history.length,
      records: history.slice(0, limit),
      liveRowCount: liveEvents.length,
      compressed: version && {
        version: version.version,
        chunkSet: version.chunkSet,
        recordCount: version.recordCount,
        removedCount: version.removedCount,
        compactedBefore: iso(version.compactedBefore),
        clearedThrough: iso(version.clearedThrough),
        codec: version.codec,
        recordEncoding: version.recordEncoding,
        dictionaryId: version.dictionaryId,
        rawBytes: version.rawBytes,
        storedBytes: version.storedBytes,
        lastCompactedAt: iso(version.compactedAt),
        chunks: await this.compressed.describeChunks(version),
      },
    };
  }

  /** Rebuilds the profile's history from its events in the event log (as `cli repair --profile`). */
  @Post('repair')
  @HttpCode(200)
  repair(@Param('profileId') profileId: string) {
    return repairProfileHistory(this.config, parseWith(identifierSchema, profileId));
  }
}
