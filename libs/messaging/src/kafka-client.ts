import { Logger } from '@nestjs/common';
import { Kafka, logLevel, LogEntry } from 'kafkajs';
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
  schemaVersion: 'x-schema-version',
  deadLetterReason: 'x-dead-letter-reason',
  sourceTopic: 'x-source-topic',
  sourcePartition: 'x-source-partition',
  sourceOffset: 'x-source-offset',
} as const;
