import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { Client } from 'cassandra-driver';
import { Logger } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import {
  ErasureLedger,
  ErasureRecord,
  LogPosition,
  ProfileKey,
  ProfileKeys,
  seal,
  standaloneProfileKeys,
} from '@vh/erasure';
import { createKafka } from '@vh/messaging';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';
import {
  BACKUP_FORMAT,
  BackupManifest,
  backupContext,
  MANIFEST_FILE,
  PROFILES_FILE,
  ProfileSnapshot,
  SealedProfileLine,
} from './backup-format';

/** A profile whose erasure is in progress is tried again this many times, this far apart, then left out. */
const ERASING_ROUNDS = 3;
const ERASING_PAUSE_MS = 2_000;

/**
 * `backup --to DIR` (docs/adr/0010). Consistent by construction: the ingest group's committed offsets are
 * read first (everything before them is in Cassandra); then each profile is copied as readers read it (live
 * rows, then the compressed version and its chunks, checksums verified), so a compaction running meanwhile
 * cannot lose a record; a restore replays the log from those offsets, and replaying what the copy already
 * holds changes nothing (invariant 1).
 */
export async function backup(config: AppConfig, args: string[]): Promise<BackupManifest> {
  const dir = option(args, '--to');
  if (!dir) throw new Error('give --to DIR');
  const logger = new Logger('backup');
  const startedAt = new Date();
  await mkdir(dir, { recursive: true });
  const offsets = await committedOffsets(config);
  const client = createCassandraClient(config.cassandra, `${config.kafka.clientId}-backup`);
  const keys = standaloneProfileKeys(config, 'backup');
  const live = new LiveHistoryRepository(client, config, new ProfileActivityIndex(client, config));
  const compressed = new CompressedHistoryRepository(client, config);
  const out = createWriteStream(join(dir, PROFILES_FILE));
  let profiles = 0;
  let liveEvents = 0;
  let compressedProfiles = 0;
  const ledger = new ErasureLedger(keys.client, config);
  const profileKeys = {
    existing: (id: string) => keys.keys.existing(id),
    currentKey: (id: string) => keys.keys.current(id),
    erasures: (id: string) => ledger.erasures(id),
    passedAtBackup: (mark: LogPosition) => passedAt(offsets, config.kafka.eventTopic, mark),
  };
  const copy = async (profileId: string): Promise<'erasing' | null> => {
    const sealed = await sealProfileSnapshot(profileId, profileKeys, () => snapshotOf(profileId, live, compressed));
    if (sealed === 'erasing') return sealed;
    if (sealed === 'empty') return null;
    if (!out.write(`${JSON.stringify(sealed.line)}\n`)) await once(out, 'drain');
    profiles++;
    liveEvents += sealed.snapshot.live.length;
    if (sealed.snapshot.compressed) compressedProfiles++;
    return null;
  };
  try {
    let erasing: string[] = [];
    for (const profileId of await profileIds(client, config.cassandra.keyspace)) {
      if ((await copy(profileId)) === 'erasing') erasing.push(profileId);
    }
    // An erasure takes one API request: most are done by now. One still in progress (or whose API crashed
    // before its mark) leaves its profile out: what it erases is not in this backup, nor after the offsets.
    for (let round = 0; round < ERASING_ROUNDS && erasing.length > 0; round++) {
      await new Promise((resolve) => setTimeout(resolve, ERASING_PAUSE_MS));
      const again: string[] = [];
      for (const profileId of erasing) if ((await copy(profileId)) === 'erasing') again.push(profileId);
      erasing = again;
    }
    if (erasing.length > 0) {
      logger.warn(
        `left out ${erasing.length} profile(s) whose erasure is in progress or past the backup's offsets: ${erasing.join(', ')}`,
      );
    }
    out.end();
    await once(out, 'finish');
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      keyspace: config.cassandra.keyspace,
      topic: config.kafka.eventTopic,
      offsets,
      ingestGroup: config.ingest.groupId,
      startedAt: startedAt.toISOString(),
      completedAt: new Date().toISOString(),
      profiles,
      liveEvents,
      compressedProfiles,
      profilesErasing: erasing.length,
    };
    // Written last: a directory without a manifest is an unfinished backup, and restore refuses it.
    await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    logger.log(`backed up ${profiles} profiles of ${config.cassandra.keyspace} to ${dir}`);
    return manifest;
  } finally {
    out.destroy();
    await keys.close();
    await client.shutdown();
  }
}

/**
 * One profile's line, sealed with the key the profile had BEFORE its snapshot: an erasure after the read
 * shreds that key, so a pre-erasure snapshot never opens at restore (docs/adr/0010). A profile without a
 * key but with something to keep (its events reached the log plain, from a producer other than the
 * collector) gets one after the snapshot, so it is backed up too. 'empty': nothing to keep.
 * 'erasing': an erasure of the profile was in progress (key shredded, mark not recorded: the stored rows
 * may not be erased yet) or changed state while the snapshot was read; the snapshot may hold what it
 * erases, under a key that is not shredded (a new session's, or the one made here), so no line.
 */
export async function sealProfileSnapshot(
  profileId: string,
  keys: {
    existing: ProfileKeys['existing'];
    currentKey: (profileId: string) => Promise<ProfileKey>;
    erasures: (profileId: string) => Promise<ErasureRecord[]>;
    /** Whether ingest, at the offsets the backup starts from, had passed this mark (it then erased at it). */
    passedAtBackup: (mark: LogPosition) => boolean;
  },
  takeSnapshot: () => Promise<ProfileSnapshot>,
): Promise<{ line: SealedProfileLine; snapshot: ProfileSnapshot } | 'empty' | 'erasing'> {
  const settled = async () => {
    const erasures = await keys.erasures(profileId);
    // A mark recorded but not met yet at the backup's offsets: ingest may still write (and later erase at the mark)
    // events before it, sealed with the current key; the line has no position for the key's bound to apply, and a
    // restore replays that mark from the offsets anyway (review of issue 15, session 14).
    return erasures.some((e) => e.pending || (e.mark !== null && !keys.passedAtBackup(e.mark)))
      ? null
      : erasures
          .map((e) => e.erasureId)
          .sort()
          .join(',');
  };
  const erasuresBefore = await settled();
  if (erasuresBefore === null) return 'erasing';
  const before = await keys.existing(profileId);
  const snapshot = await takeSnapshot();
  const compressedEmpty =
    snapshot.compressed === null ||
    (snapshot.compressed.version.recordCount === 0 &&
      snapshot.compressed.version.removedCount === 0 &&
      snapshot.compressed.version.clearedThrough === null &&
      snapshot.compressed.version.memberControls === null);
  if (snapshot.live.length === 0 && compressedEmpty) return 'empty';
  // Only a profile with something to keep gets a key here (an erased profile's empty version gets none).
  const profileKey = before ?? (await keys.currentKey(profileId));
  // After the key is made: an erasure starting later shreds it, so the line is erased with the profile.
  if ((await settled()) !== erasuresBefore) return 'erasing';
  const { keyId, key } = profileKey;
  const sealed = seal(key, JSON.stringify(snapshot), backupContext(profileId, keyId)).toString('base64');
  return { line: { profileId, keyId, sealed }, snapshot };
}

/** Live rows first, then the compressed version (as readers do); a chunk set collected meanwhile: again. */
async function snapshotOf(
  profileId: string,
  live: LiveHistoryRepository,
  compressed: CompressedHistoryRepository,
): Promise<ProfileSnapshot> {
  for (let attempt = 0; ; attempt++) {
    const events = await live.readProfile(profileId);
    const version = await compressed.readVersion(profileId);
    if (!version) return { live: events, compressed: null };
    try {
      const chunks = await compressed.storedChunks(version);
      return { live: events, compressed: { version, chunks: chunks.map((c) => c.toString('base64')) } };
    } catch (error) {
      if ((error as { code?: string }).code === 'chunk_set_gone' && attempt < 3) continue;
      throw error;
    }
  }
}

async function profileIds(client: Client, keyspace: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const query of [
    `SELECT DISTINCT profile_id FROM ${keyspace}.live_history`,
    `SELECT profile_id FROM ${keyspace}.compressed_history`,
  ]) {
    const result = await client.execute(query, [], { prepare: true, fetchSize: 5_000 });
    for await (const row of result) ids.add(row.get('profile_id') as string);
  }
  return [...ids].sort();
}

/** The ingest group's committed offsets; a partition it never committed starts at its earliest offset. */
async function committedOffsets(config: AppConfig): Promise<{ partition: number; offset: string }[]> {
  const admin = createKafka(config.kafka, 'backup-admin').admin();
  await admin.connect();
  try {
    const topic = config.kafka.eventTopic;
    const bounds = await admin.fetchTopicOffsets(topic);
    const committed =
      (await admin.fetchOffsets({ groupId: config.ingest.groupId, topics: [topic] }))[0]?.partitions ?? [];
    return bounds
      .map((b) => {
        const c = committed.find((p) => p.partition === b.partition)?.offset ?? '-1';
        return { partition: b.partition, offset: BigInt(c) >= BigInt(b.low) ? c : b.low };
      })
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Whether the committed offsets passed the mark. A partition the offsets lack was added since they were read: a
 * restore replays it whole, so not passed. A mark of another topic, or of none named (an older build's rows,
 * which could never be judged: such a profile would be left out of every backup), counts as passed.
 */
export function passedAt(offsets: { partition: number; offset: string }[], topic: string, mark: LogPosition): boolean {
  if (mark.topic !== topic || mark.partition === null) return true;
  const committed = offsets.find((o) => o.partition === mark.partition)?.offset;
  return committed !== undefined && BigInt(committed) > BigInt(mark.offset);
}

export function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}
