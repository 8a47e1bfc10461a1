import { CompressedHistoryVersion } from '@vh/storage';
import { ViewingEvent } from '@vh/domain';

/**
 * A backup directory (docs/adr/0010): `manifest.json` and `profiles.ndjson`, one line per profile, each
 * sealed with the profile's own key, so erasing a profile also shreds its copy in every backup.
 */
export const BACKUP_FORMAT = 'viewing-history-backup-1';
export const MANIFEST_FILE = 'manifest.json';
export const PROFILES_FILE = 'profiles.ndjson';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  keyspace: string;
  topic: string;
  /**
   * Per partition, the ingest group's committed offset when the backup started: every event before it was
   * in Cassandra before the copy began. A restore replays the log from here.
   */
  offsets: { partition: number; offset: string }[];
  ingestGroup: string;
  /** The copy's start and end, the CLI host's clock. A restore's --until must be at or after completedAt. */
  startedAt: string;
  completedAt: string;
  profiles: number;
  liveEvents: number;
  compressedProfiles: number;
  /** Profiles left out because an erasure of theirs was in progress (docs/adr/0010); absent in older backups. */
  profilesErasing?: number;
}

/** One line of profiles.ndjson. */
export interface SealedProfileLine {
  profileId: string;
  keyId: string;
  /** base64 of seal(profile key, JSON of ProfileSnapshot, backupContext(profileId, keyId)). */
  sealed: string;
}

/** What one profile had, read as readers read it: live rows first, then the compressed version. */
export interface ProfileSnapshot {
  live: ViewingEvent[];
  compressed: { version: CompressedHistoryVersion; chunks: string[] } | null;
}

export function backupContext(profileId: string, keyId: string): string {
  return `backup\n${profileId}\n${keyId}`;
}
