import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { encodeViewingEvent, PlaybackEvent } from '@vh/domain';
import { LogMessage } from '@vh/messaging';
import { seal, unseal, newDataKey } from './payload-cipher';
import { ProfileKeyOpener } from './profile-key.opener';
import { ProfileKeySealer } from './profile-key.sealer';
import { ProfileKeys, ProfileKeyStore, ShreddingKey } from './profile-keys';
import { encodeProfileErasedMark } from './sealed-message';

class InMemoryKeyStore extends ProfileKeyStore {
  readonly keys = new Map<string, { keyId: string; wrapped: Buffer }>();
  readonly erasures: { profileId: string; keyId: string | null }[] = [];
  reads = 0;
  async read(profileId: string) {
    this.reads++;
    return this.keys.get(profileId) ?? null;
  }
  async createIfAbsent(profileId: string, keyId: string, wrapped: Buffer) {
    if (!this.keys.has(profileId)) this.keys.set(profileId, { keyId, wrapped });
    return this.keys.get(profileId)!;
  }
  async deleteIf(profileId: string, keyId: string) {
    if (this.keys.get(profileId)?.keyId !== keyId) return false;
    this.keys.delete(profileId);
    return true;
  }
  async recordErasure(profileId: string, _erasureId: string, keyId: string | null) {
    this.erasures.push({ profileId, keyId });
  }
  /** Keys in their grace after an erasure, by profile and key id (Cassandra's TTL is ProfileKeys' clock here). */
  readonly shredding = new Map<string, ShreddingKey>();
  async putShredding(profileId: string, key: ShreddingKey) {
    this.shredding.set(`${profileId}/${key.keyId}`, { ...key });
  }
  async listShredding(profileId: string) {
    return [...this.shredding.entries()].filter(([id]) => id.startsWith(`${profileId}/`)).map(([, k]) => ({ ...k }));
  }
  async recordMark(profileId: string, keyId: string, markOffset: string) {
    const key = this.shredding.get(`${profileId}/${keyId}`);
    if (key) key.markOffset = markOffset;
  }
  async destroyShredding(profileId: string, keyId: string) {
    this.shredding.delete(`${profileId}/${keyId}`);
  }
}

const config = loadConfig({});
const play = (profileId: string, titleId: string): PlaybackEvent => ({
  eventId: randomUUID(),
  profileId,
  titleId,
  playbackSessionId: randomUUID(),
  type: 'play',
  positionMs: 0,
  occurredAt: Date.parse('2026-01-01T20:00:00Z'),
  acceptedAt: Date.parse('2026-01-01T20:00:01Z'),
  deviceId: 'tv',
});
const asMessages = (values: (string | Buffer)[]): LogMessage[] =>
  values.map((value) => ({ key: null, value: Buffer.from(value), timestamp: '1767297601000' }));

describe('payload cipher', () => {
  it('opens only with the same key and context', () => {
    const key = newDataKey();
    const sealed = seal(key, 'secret-title', 'p1\nk1');
    expect(unseal(key, sealed, 'p1\nk1').toString()).toBe('secret-title');
    expect(sealed.toString('utf8')).not.toContain('secret');
    expect(() => unseal(key, sealed, 'p2\nk1')).toThrow();
    expect(() => unseal(newDataKey(), sealed, 'p1\nk1')).toThrow();
  });
});

describe('sealing and opening events with profile keys', () => {
  let store: InMemoryKeyStore;
  let clock: number;
  let keys: ProfileKeys;
  let sealer: ProfileKeySealer;
  let opener: ProfileKeyOpener;
  beforeEach(() => {
    store = new InMemoryKeyStore();
    clock = 0;
    keys = new ProfileKeys(store, config, () => clock);
    sealer = new ProfileKeySealer(keys);
    opener = new ProfileKeyOpener(keys);
  });

  it('seals playback events so the title is not readable, and opens them to the same event', async () => {
    const event = play('p1', 'secret-title');
    const [value] = await sealer.seal([event]);
    expect(String(value)).not.toContain('secret-title');
    expect(String(value)).not.toContain(event.playbackSessionId);
    expect(await opener.open(asMessages([value]))).toEqual([{ kind: 'event', event }]);
  });

  it('leaves deletions and plain messages of other producers readable', async () => {
    const removal = {
      type: 'record-removed' as const,
      eventId: randomUUID(),
      profileId: 'p1',
      recordId: randomUUID(),
      occurredAt: 1,
      acceptedAt: 2,
    };
    const [value] = await sealer.seal([removal]);
    expect(JSON.parse(String(value)).recordId).toBe(removal.recordId);
    const plain = play('p2', 'title');
    const opened = await opener.open(asMessages([value, encodeViewingEvent(plain), '{"x":1}']));
    expect(opened[0]).toEqual({ kind: 'event', event: removal });
    expect(opened[1]).toEqual({ kind: 'event', event: plain });
    expect(opened[2].kind).toBe('invalid');
  });

  it('an erased key makes every copy unreadable: skipped as erased, not invalid', async () => {
    const sealed = await sealer.seal([play('p1', 'a'), play('p1', 'b')]);
    await keys.erase('p1');
    expect(store.erasures).toEqual([{ profileId: 'p1', keyId: expect.any(String) }]);
    // A fresh process, as a replay: nothing cached.
    const replayOpener = new ProfileKeyOpener(new ProfileKeys(store, config));
    expect(await replayOpener.open(asMessages(sealed))).toEqual([
      { kind: 'erased', profileId: 'p1' },
      { kind: 'erased', profileId: 'p1' },
    ]);
  });

  it('after an erasure a profile starts afresh with a new key; its old events stay erased', async () => {
    const [before] = await sealer.seal([play('p1', 'old')]);
    await keys.erase('p1');
    const fresh = play('p1', 'new');
    const [after] = await sealer.seal([fresh]);
    const mark = encodeProfileErasedMark({ profileId: 'p1', erasureId: randomUUID(), acceptedAt: 5 });
    const opened = await new ProfileKeyOpener(new ProfileKeys(store, config)).open(asMessages([before, mark, after]));
    expect(opened).toEqual([
      { kind: 'erased', profileId: 'p1' },
      { kind: 'profile-erased', profileId: 'p1', erasureId: expect.any(String) },
      { kind: 'event', event: fresh },
    ]);
  });

  it('a stale cached key is dropped at the erasure mark of the batch', async () => {
    const [before] = await sealer.seal([play('p1', 'old')]);
    expect(await opener.open(asMessages([before]))).toEqual([expect.objectContaining({ kind: 'event' })]);
    // Erased by another process (the API): this opener still holds the key in its cache.
    await new ProfileKeys(store, config).erase('p1');
    const mark = encodeProfileErasedMark({ profileId: 'p1', erasureId: randomUUID(), acceptedAt: 5 });
    const opened = await opener.open(asMessages([mark, before]));
    expect(opened.map((o) => o.kind)).toEqual(['profile-erased', 'erased']);
  });

  it('a stale cached key: events after the mark are the new history, before it stay erased (log order)', async () => {
    const [before] = await sealer.seal([play('p1', 'old')]);
    // The API erases; this sealer (a collector) keeps sealing with its cached key for up to PROFILE_KEYS_CACHE_MS.
    const erasureId = randomUUID();
    await new ProfileKeys(store, config, () => clock).erase('p1', erasureId, clock);
    const stale = play('p1', 'after-the-mark');
    const [late] = await sealer.seal([stale]);
    const mark = encodeProfileErasedMark({ profileId: 'p1', erasureId, acceptedAt: 5 });
    const log = asMessages([before, mark, late, before]).map((m, i) => ({ ...m, offset: String(10 + i) }));
    // Ingest, a fresh process: the mark in the same batch; only what lies after it opens.
    const ingest = () => new ProfileKeyOpener(new ProfileKeys(store, config, () => clock));
    expect(await ingest().open(log)).toEqual([
      { kind: 'erased', profileId: 'p1' },
      { kind: 'profile-erased', profileId: 'p1', erasureId: expect.any(String) },
      { kind: 'event', event: stale, staleKey: true },
      // A copy of an old event the log holds after the mark was still sealed before the erasure: no way to
      // tell from the log, so it counts as the new history's. See docs/adr/0009.
      { kind: 'event', event: expect.objectContaining({ titleId: 'old' }), staleKey: true },
    ]);
    // After a restart, the mark in an earlier batch: its position was recorded; a replay of the messages
    // before the mark alone (no mark in the batch) opens none of them.
    expect((await ingest().open([log[2]]))[0]).toEqual({ kind: 'event', event: stale, staleKey: true });
    expect(await ingest().open([log[0]])).toEqual([{ kind: 'erased', profileId: 'p1' }]);
    // Once the grace is over, the key's bytes are gone for good: nothing opens with it any more.
    clock += config.profileKeys.shreddingMs + 1;
    expect(await ingest().open([log[2]])).toEqual([{ kind: 'erased', profileId: 'p1' }]);
    expect(store.shredding.size).toBe(0);
  });

  it('a retried erasure (the first mark never published): events sealed with the first key after its mark open', async () => {
    const [before] = await sealer.seal([play('p1', 'old')]);
    const api = () => new ProfileKeys(store, config, () => clock);
    const [e1, e2] = [randomUUID(), randomUUID()];
    // The first attempt shreds K1, then publishing its mark fails; the caller retries with a new erasure id.
    await api().erase('p1', e1, clock);
    await sealer.seal([play('p1', 'between-attempts')]);
    clock += 1;
    await api().erase('p1', e2, clock);
    const stale = play('p1', 'after-the-mark');
    const [late] = await sealer.seal([stale]);
    expect(JSON.parse(String(late)).keyId).toBe(JSON.parse(String(before)).keyId);
    const mark = encodeProfileErasedMark({ profileId: 'p1', erasureId: e2, acceptedAt: clock });
    const log = asMessages([before, mark, late]).map((m, i) => ({ ...m, offset: String(10 + i) }));
    const ingest = () => new ProfileKeyOpener(new ProfileKeys(store, config, () => clock));
    expect(await ingest().open(log)).toEqual([
      { kind: 'erased', profileId: 'p1' },
      { kind: 'profile-erased', profileId: 'p1', erasureId: e2 },
      { kind: 'event', event: stale, staleKey: true },
    ]);
    // The mark's position was recorded on K1 for the batches after it.
    expect((await ingest().open([log[2]]))[0]).toEqual({ kind: 'event', event: stale, staleKey: true });
  });

  it('a new seal after the erasure never uses the shredding key', async () => {
    const [before] = await sealer.seal([play('p1', 'old')]);
    await keys.erase('p1');
    const [after] = await sealer.seal([play('p1', 'new')]);
    expect(JSON.parse(String(after)).keyId).not.toBe(JSON.parse(String(before)).keyId);
  });

  it('keeps a key in memory for PROFILE_KEYS_CACHE_MS only', async () => {
    await sealer.seal([play('p1', 'a')]);
    const reads = store.reads;
    await sealer.seal([play('p1', 'b')]);
    expect(store.reads).toBe(reads);
    clock += config.profileKeys.cacheMs + 1;
    await sealer.seal([play('p1', 'c')]);
    expect(store.reads).toBe(reads + 1);
  });

  it('a payload moved to another profile does not open', async () => {
    const [value] = await sealer.seal([play('p1', 'a')]);
    const [other] = await sealer.seal([play('p2', 'a')]);
    const moved = JSON.stringify({ ...JSON.parse(String(other)), payload: JSON.parse(String(value)).payload });
    expect((await opener.open(asMessages([moved])))[0]).toEqual({
      kind: 'invalid',
      reason: 'invalid event: sealed payload does not open with its key',
    });
  });

  it('a store that cannot be reached is a failure to retry, never an erased or invalid event', async () => {
    const [value] = await sealer.seal([play('p1', 'a')]);
    store.read = async () => {
      throw new Error('no host available');
    };
    await expect(new ProfileKeyOpener(new ProfileKeys(store, config)).open(asMessages([value]))).rejects.toThrow(
      'no host',
    );
  });
});
