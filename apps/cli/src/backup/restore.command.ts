import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Logger } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { InvalidInputError, ViewingHistoryError } from '@vh/domain';
import { classifyMessage, standaloneProfileKeys, UnknownProfileKeyError, unseal } from '@vh/erasure';
import { replayEventLog, ReplayReport } from '@vh/ingestion';
import { createKafka } from '@vh/messaging';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  migrateSchema,
  ProfileActivityIndex,
} from '@vh/storage';
import { option } from './backup.command';
import {
  BACKUP_FORMAT,
  BackupManifest,
  backupContext,
  MANIFEST_FILE,
  PROFILES_FILE,
  ProfileSnapshot,
  SealedProfileLine,
} from './backup-format';

export class RestoreRefusedError extends ViewingHistoryError {
  readonly code = 'restore_refused';
}

export interface RestoreReport {
  from: string;
  keyspace: string;
  until: string | null;
  backup: { startedAt: string; completedAt: string; profiles: number };
  profilesRestored: number;
  /** Profiles of the backup erased since (their key is gone): not restored, and never can be. */
  profilesErased: number;
  liveEvents: number;
  compressedVersionsVerified: number;
  replay: ReplayReport;
  /** The consumer group set to continue where the restore stopped (--ingest-group), if any. */
  ingestGroup: string | null;
  durationMs: number;
}

/**
 * `restore --from DIR [--until ISO-TIME] [--keyspace NAME] [--force] [--ingest-group NAME]` (docs/adr/0010):
 * loads the backup into an empty keyspace, then replays the event log from the backup's offsets, keeping
 * only messages the log took at or before --until (the log's timestamps: when the collector or the API
 * handed the event to Kafka, never device time). Erasures are never undone: a profile whose key is gone is
 * not loaded, and every erasure mark after the backup is applied whatever --until says.
 */
export async function restore(config: AppConfig, args: string[]): Promise<RestoreReport> {
  const started = Date.now();
  const logger = new Logger('restore');
  const dir = option(args, '--from');
  if (!dir) throw new Error('give --from DIR');
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT) throw new RestoreRefusedError(`${dir} is not a ${BACKUP_FORMAT} backup`);
  if (manifest.topic !== config.kafka.eventTopic) {
    throw new RestoreRefusedError(`the backup covers topic ${manifest.topic}, not ${config.kafka.eventTopic}`);
  }
  const untilArg = option(args, '--until');
  const until = untilArg === undefined ? null : Date.parse(untilArg);
  if (until !== null && !(Number.isFinite(until) && /[zZ]|[+-]\d\d:?\d\d$/.test(untilArg!))) {
    throw new InvalidInputError([{ field: '--until', message: 'must be an ISO-8601 date-time with a time zone' }]);
  }
  // The copy may hold anything stored until it completed: an earlier point needs an earlier backup.
  if (until !== null && until < Date.parse(manifest.completedAt)) {
    throw new InvalidInputError([
      { field: '--until', message: `is before this backup completed (${manifest.completedAt}): use an older backup` },
    ]);
  }
  const keyspace = option(args, '--keyspace') ?? config.cassandra.keyspace;
  const target = config.with({ cassandra: { keyspace } });
  const client = createCassandraClient(target.cassandra, `${config.kafka.clientId}-restore`);
  const keys = standaloneProfileKeys(config, 'restore');
  const live = new LiveHistoryRepository(client, target, new ProfileActivityIndex(client, target));
  const activity = new ProfileActivityIndex(client, target);
  const compressed = new CompressedHistoryRepository(client, target);
  let profilesRestored = 0;
  let profilesErased = 0;
  let liveEvents = 0;
  let compressedVersionsVerified = 0;
  const withCompressed: string[] = [];
  try {
    await migrateSchema(client, target.cassandra);
    if (!args.includes('--force')) {
      for (const table of ['live_history', 'compressed_history']) {
        const rows = await client.execute(`SELECT profile_id FROM ${keyspace}.${table} LIMIT 1`);
        if (rows.rowLength > 0) throw new RestoreRefusedError(`${keyspace}.${table} is not empty (or pass --force)`);
      }
    }
    const lines = () => createInterface({ input: createReadStream(join(dir, PROFILES_FILE)), crlfDelay: Infinity });
    // Every line's key first: a key nobody knows (keys keyspace restored empty, a wrong PROFILE_KEYS_KEYSPACE)
    // is not an erasure; skipping such profiles would restore a silently incomplete history (invariant 4).
    const unknown: string[] = [];
    for await (const text of lines()) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as SealedProfileLine;
      await keys.keys.forRestore(line.profileId, line.keyId).catch((error: unknown) => {
        if (!(error instanceof UnknownProfileKeyError)) throw error;
        unknown.push(line.profileId);
      });
    }
    if (unknown.length > 0) {
      throw new RestoreRefusedError(
        `the keys of ${unknown.length} profile(s) of the backup (${unknown.slice(0, 3).join(', ')}` +
          `${unknown.length > 3 ? ', ...' : ''}) are neither current, shredding nor named by the erasure ledger of ` +
          `${config.profileKeys.keyspace}: is PROFILE_KEYS_KEYSPACE right? Nothing was restored`,
      );
    }
    for await (const text of lines()) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as SealedProfileLine;
      const key = await keys.keys.forRestore(line.profileId, line.keyId);
      if (key === null) {
        profilesErased++;
        continue;
      }
      const snapshot = JSON.parse(
        unseal(key, Buffer.from(line.sealed, 'base64'), backupContext(line.profileId, line.keyId)).toString('utf8'),
      ) as ProfileSnapshot;
      const failed = await live.append(snapshot.live);
      if (failed.length > 0) throw failed[0].error;
      liveEvents += snapshot.live.length;
      if (snapshot.compressed) {
        const { version, chunks } = snapshot.compressed;
        const written = await compressed.writeChunkSet(
          line.profileId,
          chunks.map((c) => Buffer.from(c, 'base64')),
          version.version,
        );
        await compressed.restoreVersion({ ...version, chunkSet: written.chunkSet });
        // The export finds a profile by the days its records changed: the newest is enough to find it.
        if (version.lastEventAt !== null) {
          const failed = await activity.recordMany([{ profileId: line.profileId, occurredAt: version.lastEventAt }], 1);
          for (const error of failed.values()) throw error;
        }
        withCompressed.push(line.profileId);
      }
      profilesRestored++;
    }
    logger.log(`loaded ${profilesRestored} profiles into ${keyspace}; replaying the log from the backup's offsets`);

    const replay = await replayEventLog(target, {
      force: true,
      startOffsets: new Map(manifest.offsets.map((o) => [o.partition, BigInt(o.offset)])),
      // Erasure marks always: an erasure made after --until is never undone by a restore.
      keep:
        until === null
          ? undefined
          : (message) => Number(message.timestamp) <= until || classifyMessage(message.value).kind === 'profile-erased',
    });
    const ingestGroup = option(args, '--ingest-group') ?? null;
    if (ingestGroup) await continueFrom(config, ingestGroup, replay.endOffsets);

    // Verification: every restored compressed version reads back whole (checksums, decoding).
    for (const profileId of withCompressed) {
      await compressed.read(profileId, { useCache: false });
      compressedVersionsVerified++;
    }
    return {
      from: dir,
      keyspace,
      until: until === null ? null : new Date(until).toISOString(),
      backup: { startedAt: manifest.startedAt, completedAt: manifest.completedAt, profiles: manifest.profiles },
      profilesRestored,
      profilesErased,
      liveEvents,
      compressedVersionsVerified,
      replay,
      ingestGroup,
      durationMs: Date.now() - started,
    };
  } finally {
    await keys.close();
    await client.shutdown();
  }
}

/** A consumer group that starts where the restore stopped: ingest with it continues into the new keyspace. */
async function continueFrom(config: AppConfig, groupId: string, ends: Record<string, string>): Promise<void> {
  const admin = createKafka(config.kafka, 'restore-admin').admin();
  await admin.connect();
  try {
    await admin.setOffsets({
      groupId,
      topic: config.kafka.eventTopic,
      partitions: Object.entries(ends).map(([partition, offset]) => ({ partition: Number(partition), offset })),
    });
  } finally {
    await admin.disconnect();
  }
}
