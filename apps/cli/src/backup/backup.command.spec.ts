import { newDataKey, ProfileKey, unseal } from '@vh/erasure';
import { backupContext, ProfileSnapshot } from './backup-format';
import { sealProfileSnapshot } from './backup.command';

/** The store's current keys as ProfileKeys.existing reads them; an erasure deletes one, a session makes another. */
class FakeKeys {
  readonly current = new Map<string, ProfileKey>();
  created = 0;
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
});
