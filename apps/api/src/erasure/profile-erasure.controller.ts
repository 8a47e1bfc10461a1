import { Body, Controller, Delete, HttpCode, Param, Req } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import type { Request } from 'express';
import { z } from 'zod/v4';
import { InvalidInputError } from '@vh/domain';
import { ProfileErasure } from '@vh/erasure';
import { ApiErrorResponses, Authorize, callerOf, requestIdOf, SCOPES } from '@vh/http';
import { identifierSchema, parseWith } from '../shared/request-parsing';

const erasureBody = z.object({ confirm: z.string().max(200).optional() }).strict();

@ApiErrorResponses(400, 401, 403, 409, 501, 503)
@Controller('v1/profiles/:profileId')
export class ProfileErasureController {
  constructor(private readonly erasure: ProfileErasure) {}

  /**
   * Erases the profile's viewing history for good: nothing of it can be read, exported, replayed or
   * restored afterwards (docs/adr/0009). Operators (`profiles:erase`) for any profile; a device for its
   * own, with `{"confirm": "<profileId>"}` in the body.
   */
  @Delete()
  @Authorize({ scope: SCOPES.historyDelete, profileParam: 'profileId', anyProfileScope: SCOPES.profilesErase })
  @HttpCode(202)
  @ApiBody({
    required: false,
    schema: { type: 'object', properties: { confirm: { type: 'string', description: 'the profileId again' } } },
  })
  async erase(@Param('profileId') profileIdParam: string, @Body() body: unknown, @Req() request: Request) {
    const { profileId } = parseWith(z.object({ profileId: identifierSchema }), { profileId: profileIdParam });
    const { confirm } = parseWith(erasureBody, body ?? {});
    const operator = callerOf(request).scopes.has(SCOPES.profilesErase);
    if ((!operator || confirm !== undefined) && confirm !== profileId) {
      throw new InvalidInputError([{ field: 'confirm', message: 'must repeat the profileId to erase it for good' }]);
    }
    const { erasureId, acceptedAt } = await this.erasure.erase(profileId, { requestId: requestIdOf(request) });
    return { erasureId, status: 'accepted', acceptedAt: new Date(acceptedAt).toISOString() };
  }
}
