import { AppConfig } from '@vh/config';
import { DependencyUnavailableError, HistoryPage, ViewingRecord } from '@vh/domain';
import { CompressedHistoryRepository, LiveHistoryRepository } from '@vh/storage';
import { CompactionRequests } from '../shared/compaction-requests';
import { ViewingHistoryReader } from './viewing-history.reader';

const config = {
  history: { breakerFailures: 1000, breakerOpenMs: 1000 },
  compaction: { minAgeMs: 14 * 86_400_000 },
} as unknown as AppConfig;

/** A reader whose `readPage` times out for the `unreadable` profiles, as a tombstone-heavy partition does. */
function readerWith(unreadable: Set<string>) {
  const reader = new ViewingHistoryReader(
    {} as LiveHistoryRepository,
    {} as CompressedHistoryRepository,
    {} as CompactionRequests,
    config,
  );
  jest.spyOn(reader, 'readPage').mockImplementation(async (id: string): Promise<HistoryPage> => {
    if (unreadable.has(id)) throw new DependencyUnavailableError('cassandra', 'ReadTimeout');
    return { records: [{ recordId: `${id}-r` } as ViewingRecord], nextCursor: null };
  });
  return reader;
}

const profiles = (...ids: string[]) => ids.map((profileId) => ({ profileId }));

describe('ViewingHistoryReader.readMany', () => {
  it('answers the other profiles when one cannot be read, and marks that one (invariant 4)', async () => {
    const pages = await readerWith(new Set(['bad'])).readMany(profiles('p1', 'bad', 'p3'), 10);
    expect(pages[0]).toEqual({ records: [{ recordId: 'p1-r' }], nextCursor: null });
    expect(pages[2]).toEqual({ records: [{ recordId: 'p3-r' }], nextCursor: null });
    expect(pages[1]).toMatchObject({ error: 'profile_unavailable' });
  });

  it('fails the whole call (a 503) when every profile fails: an outage, not bad profiles', async () => {
    await expect(readerWith(new Set(['a', 'b'])).readMany(profiles('a', 'b'), 10)).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
  });
});
