export * from './live-history.ingestor';
export * from './ingestion.module';
export * from './event-log-replay';
