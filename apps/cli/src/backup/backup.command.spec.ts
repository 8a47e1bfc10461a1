import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { ErasureRecord, LogPosition, newDataKey, ProfileKey, ProfileKeys, seal, unseal } from '@vh/erasure';
import { InMemoryKeyStore } from '@vh/erasure/testing/in-memory-profile-key-store';
import { backupContext, ProfileSnapshot } from './backup-format';
import { passedAt, sealProfileSnapshot } from './backup.command';

/** The store's current keys as ProfileKeys.existing reads them; an erasure deletes one, a session makes another. */
class FakeKeys {
  readonly current = new Map<string, ProfileKey>();
  created = 0;
  /** The erasure ledger, by profile (ErasureLedger.erasures). */
  readonly ledger = new Map<string, ErasureRecord[]>();
  async erasures(profileId: string): Promise<ErasureRecord[]> {
    return [...(this.ledger.get(profileId) ?? [])];
  }
  /** Ingest's committed offset per partition as the backup read it (none: past every mark). */
  readonly committed = new Map<number, bigint>();
  passedAtBackup(mark: LogPosition): boolean {
    const committed = this.committed.get(mark.partition!);
    return committed === undefined || committed > BigInt(mark.offset);
  }
  async existing(profileId: string): Promise<ProfileKey | null> {
    return this.current.get(profileId) ?? null;
  }
  async currentKey(profileId: string): Promise<ProfileKey> {
    let key = this.current.get(profileId);
    if (!key)
      this.current.set(profileId, (key = { keyId: `new-${++this.created}`, key: newDataKey(), opensAfter: [] }));
    return key;
  }
}

const snapshot: ProfileSnapshot = { live: [], compressed: null };
const withLive = { ...snapshot, live: [{ profileId: 'p1' }] } as unknown as ProfileSnapshot;

describe('sealProfileSnapshot', () => {
  it('seals with the key read before the snapshot, so an erasure during the snapshot leaves it unreadable', async () => {
    const keys = new FakeKeys();
    const k1 = { keyId: 'k1', key: newDataKey(), opensAfter: [] };
    keys.current.set('p1', k1);
    const sealed = await sealProfileSnapshot('p1', keys, async () => {
      // Erased meanwhile, and a new session already has a new key.
      keys.current.set('p1', { keyId: 'k2', key: newDataKey(), opensAfter: [] });
      return withLive;
    });
    if (typeof sealed === 'string') throw new Error(`expected a line, got ${sealed}`);
    expect(sealed.line.keyId).toBe('k1');
    const plain = unseal(k1.key, Buffer.from(sealed.line.sealed, 'base64'), backupContext('p1', 'k1'));
    expect(JSON.parse(plain.toString())).toEqual(withLive);
  });

  it('gives a profile without a key (only plain events on the log) one, so it is backed up too', async () => {
    const keys = new FakeKeys();
    const sealed = await sealProfileSnapshot('p1', keys, async () => withLive);
    if (typeof sealed === 'string') throw new Error(`expected a line, got ${sealed}`);
    expect(sealed.line.keyId).toBe('new-1');
  });

  it('creates no key for a profile with nothing to keep (an erased profile)', async () => {
    const keys = new FakeKeys();
    expect(await sealProfileSnapshot('p1', keys, async () => snapshot)).toBe('empty');
    expect(keys.created).toBe(0);
  });

  it('an empty snapshot is no line', async () => {
    const keys = new FakeKeys();
    keys.current.set('p1', { keyId: 'k1', key: newDataKey(), opensAfter: [] });
    expect(await sealProfileSnapshot('p1', keys, async () => snapshot)).toBe('empty');
  });

  describe('an erasure in progress (key shredded, stored history not yet erased, mark not recorded)', () => {
    const pending: ErasureRecord = { erasureId: 'e1', mark: null, pending: true };
    const done: ErasureRecord = { erasureId: 'e1', mark: { topic: 't', partition: 0, offset: '7' }, pending: false };

    it('leaves the profile out: its copy would hold what the erasure is removing, under a live key', async () => {
      const keys = new FakeKeys();
      keys.ledger.set('p1', [pending]);
      expect(await sealProfileSnapshot('p1', keys, async () => withLive)).toBe('erasing');
      expect(keys.created).toBe(0);
    });

    it('leaves it out when the erasure starts during the snapshot', async () => {
      const keys = new FakeKeys();
      const sealed = await sealProfileSnapshot('p1', keys, async () => {
        keys.ledger.set('p1', [pending]);
        return withLive;
      });
      expect(sealed).toBe('erasing');
    });

    it('leaves it out when an erasure starts and finishes during the snapshot (it read the data before)', async () => {
      const keys = new FakeKeys();
      keys.current.set('p1', { keyId: 'k1', key: newDataKey(), opensAfter: [] });
      const sealed = await sealProfileSnapshot('p1', keys, async () => {
        keys.ledger.set('p1', [done]);
        return withLive;
      });
      expect(sealed).toBe('erasing');
    });

    // Review of issue 15 (session 14): a mark recorded but not yet met by ingest at the backup's offsets. Ingest
    // still writes the events before it (erasing them when it meets the mark), so the copy may hold some, sealed
    // with the current key (a line has no position: its bound cannot apply): in every restore, for good.
    it('leaves it out while ingest, at the offsets the backup starts from, has not passed its mark', async () => {
      const keys = new FakeKeys();
      keys.ledger.set('p1', [done]);
      keys.committed.set(0, 7n); // the mark is offset 7: the next to consume
      expect(await sealProfileSnapshot('p1', keys, async () => withLive)).toBe('erasing');
      keys.committed.set(0, 8n);
      expect(typeof (await sealProfileSnapshot('p1', keys, async () => withLive))).toBe('object');
    });

    it('backs up a profile whose erasures are all done (its new history)', async () => {
      const keys = new FakeKeys();
      keys.ledger.set('p1', [done]);
      const sealed = await sealProfileSnapshot('p1', keys, async () => withLive);
      if (typeof sealed === 'string') throw new Error(`expected a line, got ${sealed}`);
      expect(sealed.line.keyId).toBe('new-1');
    });
  });
});

// Independent review 2 (item 2): with the real ProfileKeys over the in-memory store. A profile holding only a
// pre-region key (docs/adr/0012) gets a line sealed with its region's key: replication may replace the
// pre-region key, and a line sealed with the lost one would never restore.
describe('sealProfileSnapshot with ProfileKeys: a profile holding only a pre-region key', () => {
  const config = loadConfig({});
  let store: InMemoryKeyStore;
  let keys: ProfileKeys;
  let preRegionKeyId: string;
  /** What ErasureLedger.erasures reads: the ledger, and the marks recorded. */
  const erasures = async (profileId: string): Promise<ErasureRecord[]> =>
    store.erasures
      .filter((e) => e.profileId === profileId)
      .map(({ erasureId }) => {
        const m = store.marks.find((r) => r.profileId === profileId && r.erasureId === erasureId);
        const mark = m ? { topic: m.topic, partition: m.partition, offset: m.offset } : null;
        return { erasureId, mark, pending: mark === null };
      });
  const sources = () => ({
    existing: (id: string) => keys.existing(id),
    currentKey: (id: string) => keys.current(id),
    erasures,
    passedAtBackup: () => true, // ingest past every mark at the backup's offsets
  });
  beforeEach(() => {
    store = new InMemoryKeyStore('dc1');
    keys = new ProfileKeys(store, config);
    preRegionKeyId = randomUUID();
    const wrapped = seal(config.profileKeys.masterKey, newDataKey(), `profile-key\np1\n${preRegionKeyId}`);
    store.createPreRegion('p1', { keyId: preRegionKeyId, wrapped });
  });

  it("seals the line with the region's own key (created for it), never the pre-region key; a restore finds it", async () => {
    const sealed = await sealProfileSnapshot('p1', sources(), async () => withLive);
    if (typeof sealed === 'string') throw new Error(`expected a line, got ${sealed}`);
    expect(sealed.line.keyId).not.toBe(preRegionKeyId);
    expect(sealed.line.keyId).toBe(store.keys.get('p1')!.get('dc1')!.keyId);
    const key = await new ProfileKeys(store, config).forRestore('p1', sealed.line.keyId);
    const plain = unseal(key!, Buffer.from(sealed.line.sealed, 'base64'), backupContext('p1', sealed.line.keyId));
    expect(JSON.parse(plain.toString())).toEqual(withLive);
  });

  it.each([
    ['still in progress (no mark recorded)', false],
    ['finished (its mark recorded)', true],
  ])(
    'an erasure between the snapshot and the key made for the line, %s: no line, or one that never restores',
    async (_, finished) => {
      const erasureId = randomUUID();
      const sealed = await sealProfileSnapshot(
        'p1',
        {
          ...sources(),
          currentKey: async (id) => {
            // After the snapshot, before the line's key is made: the erasure shreds the pre-region key.
            await new ProfileKeys(store, config).erase(id, erasureId);
            if (finished) await store.recordErasureMark(id, erasureId, { topic: 't', partition: 0, offset: '7' });
            return keys.current(id);
          },
        },
        async () => withLive,
      );
      // A line would hold the history the erasure removes, under a key made after it: readable for good.
      expect(sealed).toBe('erasing');
    },
  );
});

describe('passedAt (a mark against the offsets a backup starts from)', () => {
  const offsets = [
    { partition: 0, offset: '8' },
    { partition: 1, offset: '3' },
  ];
  const mark = (partition: number | null, offset: string, topic: string | null = 'events'): LogPosition => ({
    topic,
    partition,
    offset,
  });
  it('passed once the committed offset (the next to consume) is past the mark', () => {
    expect(passedAt(offsets, 'events', mark(0, '7'))).toBe(true);
    expect(passedAt(offsets, 'events', mark(0, '8'))).toBe(false);
    expect(passedAt(offsets, 'events', mark(1, '7'))).toBe(false);
  });
  it('not passed in a partition added since the offsets were read (a restore replays it whole)', () => {
    expect(passedAt(offsets, 'events', mark(2, '0'))).toBe(false);
  });
  it('passed for a mark of another topic or of no named partition (an older build could never be judged)', () => {
    expect(passedAt(offsets, 'events', mark(0, '9', 'other'))).toBe(true);
    expect(passedAt(offsets, 'events', mark(null, '9', null))).toBe(true);
  });
});
