import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { NotSupportedAcrossRegionsError } from '@vh/domain';
import type { ViewingEventPublisher } from '@vh/messaging';
import type { StoredHistoryEraser } from '@vh/storage';
import { ErasureLedger } from './erasure-ledger';
import { ErasuresInProgress } from './erasures-in-progress';
import { ProfileErasure } from './profile-erasure';
import { ProfileKeys } from './profile-keys';
import {
  FakeMarkPublisher,
  FakeStoredHistoryEraser,
  InMemoryErasureLedger,
  InMemoryErasuresInProgress,
} from './testing/in-memory-erasure-stores';
import { InMemoryKeyStore } from './testing/in-memory-profile-key-store';

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

describe('ProfileErasure: the erasures its mark covers', () => {
  const config = loadConfig({});
  const leaseMs = config.profileKeys.erasureLeaseMs;

  // Review of the merge: B began after A read what was in progress and shredded a key before A read the ledger;
  // it showed as unmarked, went into A's covers, and ingest recorded A's position as B's mark (B's real mark
  // never recorded): events B's keys sealed between the two marks came back.
  it('never names an erasure that began after it read what was in progress and is still running', async () => {
    const store = new InMemoryKeyStore();
    const inProgress = new InMemoryErasuresInProgress(() => store.storeClock);
    const ledger = new InMemoryErasureLedger(store, config);
    const publisher = new FakeMarkPublisher();
    const keys = new ProfileKeys(store, config);
    await keys.current('p1');
    const b = randomUUID();
    const read = ledger.erasures.bind(ledger);
    let once = true;
    ledger.erasures = async (profileId: string) => {
      if (once) {
        once = false;
        await inProgress.begin(profileId, b, leaseMs);
        await keys.erase(profileId, b, Date.now());
      }
      return read(profileId);
    };
    const a = randomUUID();
    await new ProfileErasure(
      keys,
      publisher.asPublisher(),
      new FakeStoredHistoryEraser().asEraser(),
      ledger,
      inProgress,
      config,
    ).erase('p1', { erasureId: a });
    expect(once).toBe(false);
    const [mark] = publisher.marksOf('p1') as { erasureId: string; covers?: string[] }[];
    expect(mark.erasureId).toBe(a);
    expect(mark.covers ?? []).not.toContain(b);
    expect((await ledger.erasures('p1')).find((e) => e.erasureId === b)?.mark).toBeNull();
  });
});
