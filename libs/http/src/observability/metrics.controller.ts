import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/authorize';
import { metricsRegistry } from '@vh/metrics';

/** Prometheus text format. Open, like health: scrape it from inside the network. */
@Public()
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', metricsRegistry.contentType)
  async metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }
}
