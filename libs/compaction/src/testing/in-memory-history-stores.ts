import { randomUUID } from 'node:crypto';
import { EMPTY_COMPRESSED_HISTORY, ViewingEvent } from '@vh/domain';
import {
  CompressedHistoryCompactionStore,
  CompressedHistoryVersion,
  FailedWrite,
  LiveHistoryCompactionStore,
  LiveHistoryWriter,
  LiveProfileRead,
} from '@vh/storage';

/**
 * In-memory fakes of the live and compressed ports, for the compactor's and the repair's unit specs: the live
 * read answers `events`, appends are kept in `appended`, every switched version in `switched` (each switch
 * succeeds) while the compressed side stays empty (no version), the pauses noted finished in `pausesFinished`,
 * chunk sets are only counted. Only what compaction and repair call.
 */
export function inMemoryHistoryStores(events: readonly ViewingEvent[]) {
  const appended: ViewingEvent[] = [];
  const switched: CompressedHistoryVersion[] = [];
  const pausesFinished: string[] = [];
  const live: LiveHistoryCompactionStore & LiveHistoryWriter = {
    readProfile: async (): Promise<LiveProfileRead> => ({
      events: [...events],
      rowsRead: [],
      newestWriteTimeUs: Date.now() * 1000,
    }),
    deleteBefore: async () => undefined,
    append: async (rows: readonly ViewingEvent[]): Promise<FailedWrite[]> => (appended.push(...rows), []),
  };
  const compressed: CompressedHistoryCompactionStore = {
    readVersion: async () => null,
    read: async () => ({ version: null, history: EMPTY_COMPRESSED_HISTORY }),
    collectGarbage: async () => ({ removed: 0, waiting: 0 }),
    writeChunkSet: async (_profileId: string, chunks: Buffer[]) => ({
      chunkSet: randomUUID(),
      checksums: chunks.map(() => 'x'),
      storedBytes: chunks.reduce((n, c) => n + c.length, 0),
    }),
    switchVersion: async (_expected: number | null, next: CompressedHistoryVersion) => (switched.push(next), true),
    deleteChunkSet: async () => undefined,
    markSuperseded: async () => undefined,
    notePausesFinished: async (_profileId: string, pauses: readonly string[]) => void pausesFinished.push(...pauses),
    namedForDailySweep: async () => ({ pauses: [], periods: [], pausesFinished: [] }),
    noteErasedForDailySweep: async () => undefined,
  };
  return { live, compressed, appended, switched, pausesFinished };
}
