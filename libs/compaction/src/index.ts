export * from './compaction-job';
export * from './profile-compactor';
export * from './compaction-sweep';
export * from './profile-repair';
