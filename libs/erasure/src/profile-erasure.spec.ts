import { loadConfig } from '@vh/config';
import { NotSupportedAcrossRegionsError } from '@vh/domain';
import type { ViewingEventPublisher } from '@vh/messaging';
import type { StoredHistoryEraser } from '@vh/storage';
import { ErasureLedger } from './erasure-ledger';
import { ErasuresInProgress } from './erasures-in-progress';
import { ProfileErasure } from './profile-erasure';
import { ProfileKeys } from './profile-keys';

describe('ProfileErasure', () => {
  // Erasure positions are offsets of one region's event log (ADR 12, known gaps): refused, nothing touched.
  it('refuses an erasure while the keyspaces span several datacenters, before touching anything', async () => {
    const touched: string[] = [];
    const spy = <T>(name: string) =>
      new Proxy({}, { get: (_, method) => async () => void touched.push(`${name}.${String(method)}`) }) as T;
    const erasure = new ProfileErasure(
      spy<ProfileKeys>('keys'),
      spy<ViewingEventPublisher>('publisher'),
      spy<StoredHistoryEraser>('stored'),
      spy<ErasureLedger>('ledger'),
      spy<ErasuresInProgress>('inProgress'),
      loadConfig({ CASSANDRA_LOCAL_DC: 'dc1', CASSANDRA_REPLICATION: 'dc1:1,dc2:1' }),
    );
    await expect(erasure.erase('p1')).rejects.toThrow(NotSupportedAcrossRegionsError);
    await expect(erasure.finishAbandoned('p1')).rejects.toThrow(NotSupportedAcrossRegionsError);
    expect(touched).toEqual([]);
  });
});
