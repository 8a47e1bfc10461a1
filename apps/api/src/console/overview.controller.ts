import { Controller, Get } from '@nestjs/common';
import { ApiErrorResponses, Authorize, SCOPES } from '@vh/http';
import { OperationsOverview } from './operations-overview';

/** Operators: the state of the pipeline in one answer (the console's overview page polls it). */
@Authorize({ scope: SCOPES.compactionAdmin })
@ApiErrorResponses(401, 403)
@Controller('v1/admin/overview')
export class OverviewController {
  constructor(private readonly overview: OperationsOverview) {}

  @Get()
  sample() {
    return this.overview.sample();
  }
}
