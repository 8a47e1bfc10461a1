import { ErasureRecord, newDataKey, ProfileKey, unseal } from '@vh/erasure';
import { backupContext, ProfileSnapshot } from './backup-format';
import { sealProfileSnapshot } from './backup.command';

/** The store's current keys as ProfileKeys.existing reads them; an erasure deletes one, a session makes another. */
class FakeKeys {
  readonly current = new Map<string, ProfileKey>();
  created = 0;
  /** The erasure ledger, by profile (ErasureLedger.erasures). */
  readonly ledger = new Map<string, ErasureRecord[]>();
  async erasures(profileId: string): Promise<ErasureRecord[]> {
    return [...(this.ledger.get(profileId) ?? [])];
  }
  async existing(profileId: string): Promise<ProfileKey | null> {
    return this.current.get(profileId) ?? null;
  }
  async currentKey(profileId: string): Promise<ProfileKey> {
    let key = this.current.get(profileId);
    if (!key) this.current.set(profileId, (key = { keyId: `new-${++this.created}`, key: newDataKey() }));
    return key;
  }
}

const snapshot: ProfileSnapshot = { live: [], compressed: null };
const withLive = { ...snapshot, live: [{ profileId: 'p1' }] } as unknown as ProfileSnapshot;

describe('sealProfileSnapshot', () => {
  it('seals with the key read before the snapshot, so an erasure during the snapshot leaves it unreadable', async () => {
    const keys = new FakeKeys();
    const k1 = { keyId: 'k1', key: newDataKey() };
    keys.current.set('p1', k1);
    const sealed = await sealProfileSnapshot('p1', keys, async () => {
      // Erased meanwhile, and a new session already has a new key.
      keys.current.set('p1', { keyId: 'k2', key: newDataKey() });
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
    keys.current.set('p1', { keyId: 'k1', key: newDataKey() });
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
      keys.current.set('p1', { keyId: 'k1', key: newDataKey() });
      const sealed = await sealProfileSnapshot('p1', keys, async () => {
        keys.ledger.set('p1', [done]);
        return withLive;
      });
      expect(sealed).toBe('erasing');
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
