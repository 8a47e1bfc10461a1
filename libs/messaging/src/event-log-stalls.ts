import { Global, Injectable, Module } from '@nestjs/common';

/** A line per partition at most this often while it stays stalled: one outage, a few lines, not one per retry. */
const LOG_EVERY_MS = 60_000;

interface Stall {
  reason: string;
  since: number;
  loggedAt: number;
}

/**
 * Partitions of the event log whose batch could not be processed and waits to be fetched again, and why:
 * what readiness reports and what the consumer logs while storage is down or the schema is missing.
 */
@Injectable()
export class EventLogStalls {
  private readonly stalls = new Map<number, Stall>();

  /**
   * Notes a stall; true when it deserves a log line: a new stall, or the last line is a minute old (the
   * reason carries a count that changes with every batch, so a change of wording is no reason to log).
   */
  stall(partition: number, reason: string, now = Date.now()): boolean {
    const previous = this.stalls.get(partition);
    const log = !previous || now - previous.loggedAt >= LOG_EVERY_MS;
    this.stalls.set(partition, {
      reason,
      since: previous?.since ?? now,
      loggedAt: log ? now : previous!.loggedAt,
    });
    return log;
  }

  /** The partition's batch went through. */
  clear(partition: number): void {
    this.stalls.delete(partition);
  }

  /** After a rebalance: a partition may now be another member's; the next failing batch notes it again. */
  clearAll(): void {
    this.stalls.clear();
  }

  /** One line per stalled partition, oldest first; empty when the log flows. */
  describe(now = Date.now()): string[] {
    return [...this.stalls]
      .sort(([, a], [, b]) => a.since - b.since)
      .map(
        ([partition, s]) => `partition ${partition} stalled for ${Math.round((now - s.since) / 1000)} s: ${s.reason}`,
      );
  }
}

/** Global so that readiness (libs/http) finds it in the app that consumes the log, and only there. */
@Global()
@Module({ providers: [EventLogStalls], exports: [EventLogStalls] })
export class EventLogStallsModule {}
