import { Body, Controller, Get, HttpCode, Param, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import { ApiBody } from '@nestjs/swagger';
import {
  AUTO_DELETE_PERIODS,
  currentSettings,
  InvalidInputError,
  ProfileSettings,
  RECORDING_STATES,
  settingsChangedEvent,
  validateSettingsInput,
} from '@vh/domain';
import { ApiErrorResponses, Authorize, requestIdOf, SCOPES } from '@vh/http';
import { ViewingEventPublisher } from '@vh/messaging';
import { parseProfileId } from './history-request';
import { ViewingHistoryReader } from './viewing-history.reader';
import { CompactionRequests } from '../shared/compaction-requests';

/** The settings as the API shows them. */
export interface ProfileSettingsView {
  profileId: string;
  recording: ProfileSettings['recording'];
  autoDelete: ProfileSettings['autoDelete'];
  /** When the latest change was accepted (ISO-8601), null while the defaults apply. */
  updatedAt: string | null;
}

const view = (profileId: string, settings: ProfileSettings): ProfileSettingsView => ({
  profileId,
  recording: settings.recording,
  autoDelete: settings.autoDelete,
  updatedAt: settings.updatedAt === null ? null : new Date(settings.updatedAt).toISOString(),
});

/**
 * A profile's settings: recording (`on` | `paused`) and auto-delete (`3m` | `18m` | `36m` | `never`).
 * A change is an event on the log like a deletion, so a replay reproduces it (invariant 1); it applies
 * from its acceptance by this API (one clock, invariant 6; see libs/domain/src/settings).
 */
@ApiErrorResponses(400, 401, 403, 503)
@Controller('v1/profiles/:profileId/settings')
export class ProfileSettingsController {
  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly publisher: ViewingEventPublisher,
    private readonly compactions: CompactionRequests,
  ) {}

  /** The settings in force, as ingested so far (defaults: recording on, auto-delete never). */
  @Get()
  @Authorize({ scope: SCOPES.historyRead, profileParam: 'profileId', anyProfileScope: SCOPES.profilesAdmin })
  async get(@Param('profileId') profileIdParam: string): Promise<ProfileSettingsView> {
    const profileId = parseProfileId(profileIdParam);
    return view(profileId, currentSettings(await this.reader.readControls(profileId)));
  }

  /**
   * Changes one or both settings: 202 once the change is on the log, with the fields it changes. It applies
   * from its acceptance (now) and is visible to reads once ingested, like a deletion; auto-delete hides
   * older records from then on, and the profile's compaction removes them physically. Never reads the
   * history first: a member can pause recording even while the stored history cannot be read.
   */
  @Put()
  @HttpCode(202)
  @Authorize({ scope: SCOPES.settingsWrite, profileParam: 'profileId', anyProfileScope: SCOPES.profilesAdmin })
  @ApiBody({
    schema: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        recording: { type: 'string', enum: [...RECORDING_STATES] },
        autoDelete: { type: 'string', enum: [...AUTO_DELETE_PERIODS] },
      },
    },
  })
  async put(
    @Param('profileId') profileIdParam: string,
    @Body() body: unknown,
    @Req() request: Request,
  ): Promise<{ eventId: string; status: 'accepted'; profileId: string; acceptedAt: string; changes: object }> {
    const profileId = parseProfileId(profileIdParam);
    const input = validateSettingsInput(body);
    if (!input.ok) throw new InvalidInputError(input.issues);
    const now = Date.now();
    const event = settingsChangedEvent(profileId, input.value, randomUUID(), now);
    await this.publisher.publish([event], requestIdOf(request));
    if (input.value.autoDelete !== undefined && input.value.autoDelete !== 'never') {
      this.compactions.requestAfterControl(profileId);
    }
    return {
      eventId: event.eventId,
      status: 'accepted',
      profileId,
      acceptedAt: new Date(now).toISOString(),
      changes: input.value,
    };
  }
}
