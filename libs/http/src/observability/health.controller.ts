import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { Public } from '../auth/authorize';
import { DependencyHealth } from './dependency-health';

@Public()
@Controller('health')
export class HealthController {
  private checking: Promise<HealthCheckResult> | null = null;

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
   * stalled (503 otherwise, with which one failed and why). One check at a time: probes arriving while it runs share
   * its answer. The route is never shed (an overload is when the orchestrator needs it) and needs no token, so
   * without this anyone could pile round trips to all three dependencies onto a process; nothing is kept after.
   */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    this.checking ??= this.health
      .check([
        () => this.dependencies.kafkaReady(),
        () => this.dependencies.cassandraReady(),
        () => this.dependencies.redisReady(),
        ...(this.dependencies.consumesEventLog ? [() => this.dependencies.eventLogFlowing()] : []),
      ])
      .finally(() => (this.checking = null));
    return this.checking;
  }
}
