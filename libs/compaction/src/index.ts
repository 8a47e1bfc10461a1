export * from './compaction-job';
export * from './profile-compactor';
export * from './compaction-candidates';
export * from './read-path-trigger';
export * from './profile-repair';
export * from './compressed-version.encoding';
export * from './profile-events.source';
export * from './truncated-event-log.error';
