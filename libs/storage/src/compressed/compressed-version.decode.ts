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
 * Decodes a version chunk by chunk, decompressed and checksum-verified by the caller (record chunks first, then
 * trail chunks): the one decoder the repository reads with and the specs and tools test. Chunk by chunk so the
 * repository holds one decompressed chunk at a time and names the chunk that does not decode.
 */
export class VersionChunksDecoder {
  private readonly records: ViewingRecord[] = [];
  private readonly removedRecordIds: string[] = [];
  private readonly besideRecords = new Map<string, SettledDigest>();
  private readonly trails = new Map<string, SessionTrail>();
  private readonly byFingerprint = new Map<number, SettledTrailEntry>();

  constructor(
    private readonly profileId: string,
    private readonly recordChunks: number,
  ) {}

  /** Chunk `index` of the set, decompressed; throws what its codec throws when it does not decode. */
  add(index: number, bytes: Buffer): void {
    if (index < this.recordChunks) {
      const chunk = decodeChunk(this.profileId, bytes);
      this.records.push(...chunk.records);
      this.removedRecordIds.push(...chunk.removedRecordIds);
      for (const [id, digest] of chunk.settledDigests ?? []) this.besideRecords.set(id, digest);
      return;
    }
    // One decompression for both: the trails, and the settled records' event counts (ADR 6).
    for (const [id, trail] of decodeTrailChunk(this.profileId, bytes)) this.trails.set(id, trail);
    for (const [fingerprint, entry] of decodeSettledEntries(bytes)) addSettled(this.byFingerprint, fingerprint, entry);
  }

  /** Record chunks only: no trails, no digests (a read that needs neither). */
  recordsOnly(): { records: ViewingRecord[]; removedRecordIds: string[] } {
    return { records: this.records, removedRecordIds: this.removedRecordIds };
  }

  /**
   * Every chunk added: the records, trails and the settled records' digests. Unknown digests are left out:
   * every reader takes an absent digest as the unknown one (UNKNOWN_SETTLED_DIGEST).
   */
  withTrails(): {
    records: ViewingRecord[];
    removedRecordIds: string[];
    trails: Map<string, SessionTrail>;
    settledDigests: Map<string, SettledDigest>;
  } {
    const settledDigests = settledDigestsOf(this.records, this.trails, this.besideRecords, this.byFingerprint);
    for (const [id, digest] of settledDigests)
      if (digest.events === 0 && digest.lastAcceptedAt === null) settledDigests.delete(id);
    return { ...this.recordsOnly(), trails: this.trails, settledDigests };
  }
}

/** A version's chunks, decompressed (record chunks first, then trail chunks), in one call (specs, tools). */
export function decodeVersionChunks(profileId: string, chunks: readonly Buffer[], recordChunks: number) {
  const decoder = new VersionChunksDecoder(profileId, recordChunks);
  chunks.forEach((bytes, index) => decoder.add(index, bytes));
  return decoder.withTrails();
}
