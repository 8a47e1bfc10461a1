import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { Public } from '../auth/authorize';
import { DependencyHealth } from './dependency-health';

@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly dependencies: DependencyHealth,
  ) {}

  /** The process runs. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready only when Kafka, Cassandra and Redis all answer and, in ingest, no partition of the event log is
   * stalled (503 otherwise, with which one failed and why).
   */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.dependencies.kafkaReady(),
      () => this.dependencies.cassandraReady(),
      () => this.dependencies.redisReady(),
      ...(this.dependencies.consumesEventLog ? [() => this.dependencies.eventLogFlowing()] : []),
    ]);
  }
}
