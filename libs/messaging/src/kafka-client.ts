import { Logger } from '@nestjs/common';
import { IHeaders, Kafka, logLevel, LogEntry } from 'kafkajs';
import { AppConfig } from '@vh/config';

const LEVELS: Record<number, 'error' | 'warn' | 'log' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'log',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs through Nest's logger, so one process has one log format. */
function nestLogCreator() {
  return () => (entry: LogEntry) => {
    const { message, ...extra } = entry.log;
    const logger = new Logger(`kafkajs:${entry.namespace}`);
    const method = LEVELS[entry.level] ?? 'log';
    logger[method](`${message} ${JSON.stringify(extra)}`);
  };
}

export function createKafka(config: AppConfig['kafka'], role: string): Kafka {
  return new Kafka({
    clientId: `${config.clientId}-${role}`,
    brokers: config.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    logLevel: logLevel.WARN,
    logCreator: nestLogCreator(),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
  });
}

/** Kafka header names carried by every event message. */
export const HEADERS = {
  requestId: 'x-request-id',
  deadLetterReason: 'x-dead-letter-reason',
  sourceTopic: 'x-source-topic',
  sourcePartition: 'x-source-partition',
  sourceOffset: 'x-source-offset',
  /** The source message's log timestamp: a re-drive keeps it, so an event without acceptedAt folds the same. */
  sourceTimestamp: 'x-source-timestamp',
  /** On a re-driven message: the dead letter it came from (`topic/partition/offset`), when and by whom. */
  redrivenFrom: 'x-redriven-from',
  redrivenAt: 'x-redriven-at',
  redrivenBy: 'x-redriven-by',
  /**
   * On a re-driven message: where the letter's original lay on the event log (`topic/partition/offset`), so
   * ingest places it against an erasure's mark by log order (docs/adr/0009).
   */
  redrivenSource: 'x-redriven-source',
} as const;

/** A header of a message as text (the first, if repeated), or null. */
export function header(message: { headers?: IHeaders }, name: string): string | null {
  const value = message.headers?.[name];
  if (value === undefined) return null;
  return (Array.isArray(value) ? value[0] : value)?.toString('utf8') ?? null;
}
