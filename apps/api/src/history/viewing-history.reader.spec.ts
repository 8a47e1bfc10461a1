import { AppConfig } from '@vh/config';
import { DependencyUnavailableError, ViewingRecord } from '@vh/domain';
import { CompressedHistoryRepository, LiveHistoryRepository } from '@vh/storage';
import { CompactionRequests } from '../shared/compaction-requests';
import { ViewingHistoryReader } from './viewing-history.reader';

const config = { history: { breakerFailures: 1000, breakerOpenMs: 1000 } } as unknown as AppConfig;

/** A reader whose `read` times out for the `unreadable` profiles, as a tombstone-heavy partition does. */
function readerWith(unreadable: Set<string>) {
  const reader = new ViewingHistoryReader(
    {} as LiveHistoryRepository,
    {} as CompressedHistoryRepository,
    {} as CompactionRequests,
    config,
  );
  jest.spyOn(reader, 'read').mockImplementation(async (id: string) => {
    if (unreadable.has(id)) throw new DependencyUnavailableError('cassandra', 'ReadTimeout');
    return [{ recordId: `${id}-r` } as ViewingRecord];
  });
  return reader;
}

describe('ViewingHistoryReader.readMany', () => {
  it('answers the other profiles when one cannot be read, and marks that one (invariant 4)', async () => {
    const byProfile = await readerWith(new Set(['bad'])).readMany(['p1', 'bad', 'p3']);
    expect(byProfile.get('p1')).toEqual([{ recordId: 'p1-r' }]);
    expect(byProfile.get('p3')).toEqual([{ recordId: 'p3-r' }]);
    expect(byProfile.get('bad')).toMatchObject({ error: 'profile_unavailable' });
  });

  it('fails the whole call (a 503) when every profile fails: an outage, not bad profiles', async () => {
    await expect(readerWith(new Set(['a', 'b'])).readMany(['a', 'b'])).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
  });
});
