import { SessionTrail, SettledDigest, settledIdFingerprint, ViewingRecord } from '@vh/domain';
import { decodeChunk, settledDigestOf, SettledTrailEntry } from './history-chunk.codec';
import { addSettled, decodeSettledEntries, decodeTrailChunk } from './session-trail.codec';

/**
 * What each record without a trail keeps of it (ADR 6): its digest beside it in its record chunk (encoding v3),
 * else the entry its trail chunks keep under its id's fingerprint (v2), else unknown.
 */
export function settledDigestsOf(
  records: readonly ViewingRecord[],
  trails: ReadonlyMap<string, SessionTrail>,
  besideRecords: ReadonlyMap<string, SettledDigest>,
  byFingerprint: ReadonlyMap<number, SettledTrailEntry>,
): Map<string, SettledDigest> {
  const digests = new Map<string, SettledDigest>();
  for (const r of records) {
    if (trails.has(r.recordId)) continue;
    const beside = besideRecords.get(r.recordId);
    digests.set(
      r.recordId,
      beside ?? settledDigestOf(byFingerprint.get(settledIdFingerprint(r.recordId)), r.firstAcceptedAt),
    );
  }
  return digests;
}

/**
 * A version's chunks, decompressed (record chunks first, then trail chunks), as the history compaction reads:
 * the pieces the repository decodes chunk by chunk, in one call (specs, tools). Unknown digests are left out.
 */
export function decodeVersionChunks(profileId: string, chunks: readonly Buffer[], recordChunks: number) {
  const records: ViewingRecord[] = [];
  const removedRecordIds: string[] = [];
  const besideRecords = new Map<string, SettledDigest>();
  const trails = new Map<string, SessionTrail>();
  const byFingerprint = new Map<number, SettledTrailEntry>();
  chunks.forEach((bytes, index) => {
    if (index < recordChunks) {
      const chunk = decodeChunk(profileId, bytes);
      records.push(...chunk.records);
      removedRecordIds.push(...chunk.removedRecordIds);
      for (const [id, digest] of chunk.settledDigests ?? []) besideRecords.set(id, digest);
      return;
    }
    for (const [id, trail] of decodeTrailChunk(profileId, bytes)) trails.set(id, trail);
    for (const [fingerprint, entry] of decodeSettledEntries(bytes)) addSettled(byFingerprint, fingerprint, entry);
  });
  const settledDigests = settledDigestsOf(records, trails, besideRecords, byFingerprint);
  for (const [id, digest] of settledDigests)
    if (digest.events === 0 && digest.lastAcceptedAt === null) settledDigests.delete(id);
  return { records, removedRecordIds, trails, settledDigests };
}
