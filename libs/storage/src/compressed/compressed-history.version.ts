import { CompressedHistoryIndex } from '@vh/domain';
import { PREVIOUS_RECORD_ENCODING } from './history-chunk.codec';
import { ZSTD_CODEC } from './zstd';

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
  /** The chunks' time and id ranges; null for versions written before it (read whole). */
  chunkIndex: CompressedHistoryIndex | null;
}

/**
 * A version that holds nothing (an erased profile's): no records, no controls, its chunk set empty. Tagged with
 * the previous record encoding: with no chunks, any tag reads the same, and builds before v3 check the tag, so an
 * erasure during a rolling upgrade must not write one they report as corrupt.
 */
export function emptyVersion(profileId: string, version: number, chunkSet: string): CompressedHistoryVersion {
  return {
    profileId,
    version,
    chunkSet,
    chunkCount: 0,
    trailChunkCount: 0,
    chunkChecksums: [],
    recordCount: 0,
    removedCount: 0,
    firstStartedAt: null,
    lastEventAt: null,
    compactedBefore: null,
    clearedThrough: null,
    memberControls: null,
    chunkIndex: null,
    codec: ZSTD_CODEC,
    recordEncoding: PREVIOUS_RECORD_ENCODING,
    dictionaryId: 0,
    rawBytes: 0,
    storedBytes: 0,
    compactedAt: Date.now(),
  };
}
