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

  it('gives a profile without a key (only plain events on the log) one BEFORE its snapshot, never after', async () => {
    const keys = new FakeKeys();
    let keyAtSnapshot: string | undefined;
    const sealed = await sealProfileSnapshot('p1', keys, async () => {
      keyAtSnapshot = keys.current.get('p1')?.keyId;
      return withLive;
    });
    if (typeof sealed === 'string') throw new Error(`expected a line, got ${sealed}`);
    expect(keyAtSnapshot).toBe('new-1');
    expect(sealed.line.keyId).toBe('new-1');
  });

  it('an empty snapshot is no line', async () => {
    const keys = new FakeKeys();
    keys.current.set('p1', { keyId: 'k1', key: newDataKey() });
    expect(await sealProfileSnapshot('p1', keys, async () => snapshot)).toBe('empty');
  });
});
