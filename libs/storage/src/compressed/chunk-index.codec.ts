import { CompressedHistoryIndex } from '@vh/domain';
import { ByteReader, ByteWriter, bytesToUuid, uuidToBytes } from './binary';
import { MalformedChunkError } from './history-chunk.codec';

/**
 * The index of a compressed version, stored in its metadata row (`chunk_index`): per record chunk the
 * startedAt range and counts, per trail chunk the recordId range and count. About 10 bytes per record
 * chunk and 34 per trail chunk: a 200,000-record history at the default 256 KiB chunks needs ~3 KB.
 * Versions written before it have none and are read whole.
 */
const MAGIC = Buffer.from('VHI1', 'latin1');

export function encodeChunkIndex(index: CompressedHistoryIndex): Buffer {
  const w = new ByteWriter();
  w.bytes(MAGIC);
  w.varint(index.recordChunks.length);
  let previous = 0;
  for (const span of index.recordChunks) {
    w.varint(span.records);
    w.varint(span.removedRecordIds);
    if (span.records === 0) continue;
    w.signed(span.firstStartedAt! - previous);
    w.varint(span.lastStartedAt! - span.firstStartedAt!);
    previous = span.firstStartedAt!;
  }
  w.varint(index.trailChunks.length);
  for (const span of index.trailChunks) {
    w.varint(span.trails);
    w.bytes(uuidToBytes(span.firstRecordId));
    w.bytes(uuidToBytes(span.lastRecordId));
  }
  return w.toBuffer();
}

export function decodeChunkIndex(bytes: Buffer): CompressedHistoryIndex {
  try {
    const r = new ByteReader(bytes);
    if (!r.bytes(MAGIC.length).equals(MAGIC)) throw new MalformedChunkError('not a chunk index');
    let previous = 0;
    const recordChunks = Array.from({ length: r.varint() }, () => {
      const records = r.varint();
      const removedRecordIds = r.varint();
      if (records === 0) return { records, removedRecordIds, firstStartedAt: null, lastStartedAt: null };
      const firstStartedAt = (previous += r.signed());
      return { records, removedRecordIds, firstStartedAt, lastStartedAt: firstStartedAt + r.varint() };
    });
    const trailChunks = Array.from({ length: r.varint() }, () => ({
      trails: r.varint(),
      firstRecordId: bytesToUuid(r.bytes(16)),
      lastRecordId: bytesToUuid(r.bytes(16)),
    }));
    if (!r.done) throw new MalformedChunkError('trailing bytes');
    return { recordChunks, trailChunks };
  } catch (error) {
    if (error instanceof MalformedChunkError) throw error;
    throw new MalformedChunkError((error as Error).message);
  }
}
