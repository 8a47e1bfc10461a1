/** The metadata row: which chunk set is current, and what it holds. */
export interface CompressedHistoryVersion {
  profileId: string;
  version: number;
  chunkSet: string;
  /** Record chunks: indexes 0..chunkCount-1 of the set. */
  chunkCount: number;
  /** Session-trail chunks, after the record chunks (0 before trails existed). */
  trailChunkCount: number;
  /** Checksums of every chunk of the set, record chunks first. */
  chunkChecksums: string[];
  recordCount: number;
  removedCount: number;
  firstStartedAt: number | null;
  lastEventAt: number | null;
  compactedBefore: number | null;
  clearedThrough: number | null;
  /** The member's controls as stored JSON (member-controls.codec.ts); null: none. */
  memberControls: string | null;
  codec: string;
  recordEncoding: string;
  dictionaryId: number;
  rawBytes: number;
  storedBytes: number;
  compactedAt: number;
}
