import { randomUUID } from 'node:crypto';
import { AppConfig, loadConfig } from '@vh/config';
import { ErasureInProgressError, NotSupportedAcrossRegionsError, PlaybackEvent } from '@vh/domain';
import type { ViewingEventPublisher } from '@vh/messaging';
import type { StoredHistoryEraser } from '@vh/storage';
import { ErasureLedger } from './erasure-ledger';
import { ErasuresInProgress } from './erasures-in-progress';
import { ProfileErasure } from './profile-erasure';
import { ProfileKeyOpener } from './profile-key.opener';
import { ProfileKeySealer } from './profile-key.sealer';
import { ProfileKeys } from './profile-keys';
import {
  FakeMarkPublisher,
  FakeStoredHistoryEraser,
  InMemoryErasureLedger,
  InMemoryErasuresInProgress,
} from './testing/in-memory-erasure-stores';
import { InMemoryKeyStore } from './testing/in-memory-profile-key-store';
import { asMessages, keyIdOf, play } from './testing/sealed-log';

/** The erasure's ports in memory, and ProfileErasure over them with the stored-history step given. */
function inMemoryErasure(config: AppConfig, store = new InMemoryKeyStore()) {
  const inProgress = new InMemoryErasuresInProgress(() => store.storeClock);
  const ledger = new InMemoryErasureLedger(store, config);
  const publisher = new FakeMarkPublisher();
  const keys = new ProfileKeys(store, config);
  const erasureWith = (eraser: StoredHistoryEraser = new FakeStoredHistoryEraser().asEraser()) =>
    new ProfileErasure(keys, publisher.asPublisher(), eraser, ledger, inProgress, config);
  return { store, inProgress, ledger, publisher, keys, erasureWith };
}

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
    // B still noted after A's mark: A answers 409 (B's mark may still come), its own mark put and recorded.
    await expect(
      new ProfileErasure(
        keys,
        publisher.asPublisher(),
        new FakeStoredHistoryEraser().asEraser(),
        ledger,
        inProgress,
        config,
      ).erase('p1', { erasureId: a }),
    ).rejects.toMatchObject({ during: 'erasure' });
    expect(once).toBe(false);
    const [mark] = publisher.marksOf('p1') as { erasureId: string; covers?: string[] }[];
    expect(mark.erasureId).toBe(a);
    expect(mark.covers ?? []).not.toContain(b);
    expect((await ledger.erasures('p1')).find((e) => e.erasureId === b)?.mark).toBeNull();
  });
});

// Review of issue 15 (session 13, item 1): a key created after the erasure's last read of the keys and before
// its mark (a collector of another region, the API's `title-removed`, `cli backup`, ingest re-sealing) stayed
// current, so what it sealed before the mark stayed readable on the log for good, for anyone with the keys.
// Shredding it after the mark was tried and undone (review: it is usually the new history's key, and destroying
// it lost what ingest opened with it while current); the key is bounded by the mark instead, and stays current.
/** Where FakeMarkPublisher puts everything. */
const THE_LOG = { topic: 'events', partition: 0 };

describe('ProfileErasure: keys created while it ran', () => {
  const config = loadConfig({});
  const sealWith = async (keys: ProfileKeys, event: PlaybackEvent) =>
    (await new ProfileKeySealer(keys, config).seal([event]))[0];

  it('what such a key sealed before the mark never opens; what it seals after the mark does, and it stays current', async () => {
    const dc1 = new InMemoryKeyStore('dc1');
    const dc2 = dc1.inRegion('dc2');
    await new ProfileKeys(dc1, config).current('p1');
    const publisher = new FakeMarkPublisher();
    // The log before the erasure: some other profile's messages, so that the mark lies at a known offset.
    for (let i = 0; i < 5; i++) await publisher.publishEncoded([{ key: 'other', value: '{}' }]);
    const collector = new ProfileKeys(dc2, config); // another region's collector, its key not yet created
    const stored = new FakeStoredHistoryEraser();
    let sealedDuring: Buffer | string | null = null;
    const erase = stored.erase.bind(stored);
    stored.erase = async (profileId, options) => {
      // While the stored history is erased (after the keys' last read), the collector meets the profile.
      sealedDuring = await sealWith(collector, play('p1', 'sealed-during-the-erasure'));
      return erase(profileId, options);
    };
    const store = dc1;
    await new ProfileErasure(
      new ProfileKeys(dc1, config),
      publisher.asPublisher(),
      stored.asEraser(),
      new InMemoryErasureLedger(store, config),
      new InMemoryErasuresInProgress(() => store.storeClock),
      config,
    ).erase('p1');
    expect(sealedDuring).not.toBeNull();
    const markOffset = publisher.published.findIndex((m) => m.key === 'p1');
    const sealedAfter = await sealWith(collector, play('p1', 'sealed-after-the-mark')); // its cached key, as collectors do
    // Anyone with the keys reading the log: the event sealed before the mark does not open; the one after does.
    const opened = await new ProfileKeyOpener(new ProfileKeys(dc1, config)).open(
      [...asMessages([sealedDuring!], markOffset - 1), ...asMessages([sealedAfter], markOffset + 1)],
      THE_LOG,
    );
    expect(opened.map((o) => (o.kind === 'event' ? (o.event as PlaybackEvent).titleId : o.kind))).toEqual([
      'erased',
      'sealed-after-the-mark',
    ]);
    // Not stale: what it opens is the new history, sealed with a current key, never sealed again.
    expect(opened[1]).not.toHaveProperty('staleKey');
    expect((await dc1.read('p1')).map((k) => k.keyId)).toContain(keyIdOf(sealedAfter));
    expect(await dc1.listShredding('p1')).not.toContainEqual(expect.objectContaining({ keyId: keyIdOf(sealedAfter) }));
  });

  // The review's second finding against shredding: a later erasure must still erase what the bounded key sealed
  // between the two marks.
  it('a later erasure erases what a bounded key sealed between the two marks', async () => {
    const dc1 = new InMemoryKeyStore('dc1');
    const publisher = new FakeMarkPublisher();
    const keys = new ProfileKeys(dc1, config);
    const ledger = new InMemoryErasureLedger(dc1, config);
    const inProgress = new InMemoryErasuresInProgress(() => dc1.storeClock);
    const erasure = (stored = new FakeStoredHistoryEraser()) =>
      new ProfileErasure(
        new ProfileKeys(dc1, config),
        publisher.asPublisher(),
        stored.asEraser(),
        ledger,
        inProgress,
        config,
      );
    await keys.current('p1');
    // The first erasure: while it erases the stored history, a process creates the profile's next key.
    const meanwhile = new FakeStoredHistoryEraser();
    const erase = meanwhile.erase.bind(meanwhile);
    meanwhile.erase = async (profileId, options) => {
      keys.forget(profileId);
      await keys.current(profileId);
      return erase(profileId, options);
    };
    await erasure(meanwhile).erase('p1');
    const first = publisher.published.length - 1;
    expect((await dc1.read('p1'))[0].opensAfter).toEqual([{ ...THE_LOG, offset: String(first) }]); // the first mark
    const between = await sealWith(keys, play('p1', 'between-the-marks'));
    const [{ baseOffset }] = await publisher.publishEncoded([{ key: 'the-log', value: between }]);
    await erasure().erase('p1');
    expect(publisher.published.length - 1).toBeGreaterThan(Number(baseOffset)); // the second mark, after it
    const opened = await new ProfileKeyOpener(new ProfileKeys(dc1, config)).open(
      asMessages([between], Number(baseOffset)),
      THE_LOG,
    );
    expect(opened.map((o) => o.kind)).toEqual(['erased']);
  });
});

// One erasure of a profile at a time (review of session 14): another's mark, still to come, would erase what the
// member posts after this one's 202. Refused before any step; seen failing first (both ran, two marks).
describe('ProfileErasure: while another erasure of the profile runs', () => {
  const config = loadConfig({});
  const leaseMs = config.profileKeys.erasureLeaseMs;
  const setUp = () => {
    const stores = inMemoryErasure(config);
    return { ...stores, erasure: stores.erasureWith() };
  };

  it('answers 409 and does nothing: no key moved, no mark, no note of its own', async () => {
    const { store, inProgress, publisher, keys, erasure } = setUp();
    const { keyId } = await keys.current('p1');
    const running = randomUUID();
    await inProgress.begin('p1', running, leaseMs);
    await expect(erasure.erase('p1')).rejects.toMatchObject({ during: 'erasure' });
    expect(publisher.published).toEqual([]);
    expect((await store.read('p1')).map((k) => k.keyId)).toEqual([keyId]);
    expect((await inProgress.of('p1')).map((e) => e.erasureId)).toEqual([running]);
  });

  it('one that began between its two reads of what is in progress: it refuses and ends its own note', async () => {
    const { inProgress, publisher, keys, erasure } = setUp();
    await keys.current('p1');
    const other = randomUUID();
    const read = inProgress.of.bind(inProgress);
    let reads = 0;
    inProgress.of = async (profileId: string) => {
      if (++reads === 2) await inProgress.begin(profileId, other, leaseMs);
      return read(profileId);
    };
    const mine = randomUUID();
    await expect(erasure.erase('p1', { erasureId: mine })).rejects.toMatchObject({ during: 'erasure' });
    expect(publisher.published).toEqual([]);
    expect((await read('p1')).map((e) => e.erasureId)).toEqual([other]);
  });

  it('refusing after it took an abandoned erasure over, it releases that one: a retry takes it at once', async () => {
    const { store, inProgress, keys, erasure } = setUp();
    await keys.current('p1');
    const abandoned = randomUUID();
    await inProgress.begin('p1', abandoned, leaseMs);
    store.storeClock += leaseMs + 1;
    const read = inProgress.of.bind(inProgress);
    let reads = 0;
    inProgress.of = async (profileId: string) => {
      if (++reads === 2) await inProgress.begin(profileId, randomUUID(), leaseMs);
      return read(profileId);
    };
    const mine = randomUUID();
    await expect(erasure.erase('p1', { erasureId: mine })).rejects.toMatchObject({ during: 'erasure' });
    expect((await read('p1')).find((e) => e.erasureId === abandoned)).toMatchObject({ owner: mine, leased: false });
  });

  it('a failure it survives releases its lease: the caller told 503 takes it over at once', async () => {
    const { inProgress, keys, erasureWith } = setUp();
    await keys.current('p1');
    const failing = new FakeStoredHistoryEraser();
    failing.erase = async () => {
      throw new Error('no host available');
    };
    const first = randomUUID();
    await expect(erasureWith(failing.asEraser()).erase('p1', { erasureId: first })).rejects.toThrow(
      'no host available',
    );
    const retry = await erasureWith().erase('p1');
    expect(retry.tookOver).toEqual([first]);
    expect(await inProgress.of('p1')).toEqual([]);
  });

  it("ingest's finisher takes nothing over and does nothing while another erasure runs", async () => {
    const { store, inProgress, publisher, erasure } = setUp();
    const abandoned = randomUUID();
    await inProgress.begin('p1', abandoned, leaseMs);
    store.storeClock += leaseMs + 1;
    await inProgress.begin('p1', randomUUID(), leaseMs);
    expect(await erasure.finishAbandoned('p1')).toBeNull();
    expect(publisher.published).toEqual([]);
    expect((await inProgress.of('p1')).find((e) => e.erasureId === abandoned)?.owner).toBe(abandoned);
  });
});

// Reviews of the late mark (sessions 13, 14): after its mark, an erasure that still holds its lease is done by its
// own mark, recorded and bounded; one taken over meanwhile only once its taker's mark is on the log (409 until
// then: that mark erases again). Its keys are bounded where its mark counts: the position first recorded.
describe('ProfileErasure: after its mark is on the log', () => {
  const config = loadConfig({});
  const LOG = { topic: 'events', partition: 0 };
  const setUp = () => inMemoryErasure(config, new InMemoryKeyStore('dc1'));

  /**
   * Its process stalled between its last renewal and its publish, its lease ran out and the finisher took it
   * over: the finisher's mark, wherever it lands, erases again. A 202 here would promise to keep the history the
   * member posts next, which that mark may erase (review of session 13, ADR 9).
   */
  const takenOverAfterPublishing = (
    { store, inProgress, publisher }: ReturnType<typeof setUp>,
    erasureId: string,
    then: 'running' | 'finished' | 'its-note-ended-taker-running',
  ) => {
    const publish = publisher.publishEncoded.bind(publisher);
    publisher.publishEncoded = async (messages) => {
      const at = await publish(messages);
      store.storeClock += config.profileKeys.erasureLeaseMs + 1;
      const finisher = randomUUID();
      expect(await inProgress.takeOver('p1', erasureId, erasureId, finisher, config.profileKeys.erasureLeaseMs)).toBe(
        true,
      );
      await inProgress.begin('p1', finisher, config.profileKeys.erasureLeaseMs);
      if (then === 'finished') {
        // The finisher's mark is on the log, recorded for what it took over; then its notes end.
        await store.recordErasureMark('p1', erasureId, { ...LOG, offset: '7' });
        await inProgress.end('p1', finisher, finisher);
        await inProgress.end('p1', erasureId, finisher);
      }
      if (then === 'its-note-ended-taker-running') {
        // Ingest met this erasure's own mark and recorded it; the sweep ended its note (the finisher, which took
        // it over, having died): the finisher's own note stays until its own taker's mark is on the log.
        await store.recordErasureMark('p1', erasureId, { ...LOG, offset: at[0].baseOffset });
        await inProgress.end('p1', erasureId, finisher);
      }
      return at;
    };
  };
  const erase = ({ erasureWith }: ReturnType<typeof setUp>, erasureId: string) =>
    erasureWith().erase('p1', { erasureId });

  it('answers 409, recording nothing, when another erasure took it over and has not finished it', async () => {
    const stores = setUp();
    await new ProfileKeys(stores.store, config).current('p1');
    const erasureId = randomUUID();
    takenOverAfterPublishing(stores, erasureId, 'running');
    const answer = erase(stores, erasureId);
    await expect(answer).rejects.toBeInstanceOf(ErasureInProgressError);
    await expect(answer).rejects.toMatchObject({ during: 'erasure' });
    expect(await stores.store.recordedMarks('p1')).toEqual([]);
  });

  it('answers 409 when its own note ended but the erasure that took it over is still in progress', async () => {
    const stores = setUp();
    await new ProfileKeys(stores.store, config).current('p1');
    const erasureId = randomUUID();
    takenOverAfterPublishing(stores, erasureId, 'its-note-ended-taker-running');
    await expect(erase(stores, erasureId)).rejects.toMatchObject({ during: 'erasure' });
  });

  it('answers done, recording nothing, when the erasure that took it over has finished (its mark on the log)', async () => {
    const stores = setUp();
    await new ProfileKeys(stores.store, config).current('p1');
    const erasureId = randomUUID();
    takenOverAfterPublishing(stores, erasureId, 'finished');
    await expect(erase(stores, erasureId)).resolves.toMatchObject({ erasureId });
    expect((await stores.store.recordedMarks('p1')).map((m) => m.offset)).toEqual(['7']); // the finisher's only
  });

  it("renews and records its mark when an erasure it took over ended meanwhile (that one's own late mark met)", async () => {
    const stores = setUp();
    const { store, inProgress, publisher } = stores;
    await new ProfileKeys(store, config).current('p1');
    const leaseMs = config.profileKeys.erasureLeaseMs;
    const abandoned = randomUUID();
    await inProgress.begin('p1', abandoned, leaseMs);
    store.storeClock += leaseMs + 1;
    const publish = publisher.publishEncoded.bind(publisher);
    publisher.publishEncoded = async (messages) => {
      const at = await publish(messages);
      // The abandoned erasure's own late mark was met and recorded, and the sweep ended its note.
      await store.recordErasureMark('p1', abandoned, { ...LOG, offset: '5' });
      const [{ owner }] = (await inProgress.of('p1')).filter((e) => e.erasureId === abandoned);
      await inProgress.end('p1', abandoned, owner);
      return at;
    };
    const erasureId = randomUUID();
    await expect(erase(stores, erasureId)).resolves.toMatchObject({ erasureId, tookOver: [abandoned] });
    expect((await store.recordedMarks('p1')).find((m) => m.erasureId === erasureId)).toBeDefined();
    expect(await inProgress.of('p1')).toEqual([]);
  });

  it('answers an error, recording nothing, when whether it still holds its lease cannot be read', async () => {
    const stores = setUp();
    await new ProfileKeys(stores.store, config).current('p1');
    const publish = stores.publisher.publishEncoded.bind(stores.publisher);
    stores.publisher.publishEncoded = async (messages) => {
      const at = await publish(messages);
      stores.inProgress.hold = async () => {
        throw new Error('no host available');
      };
      return at;
    };
    await expect(erase(stores, randomUUID())).rejects.toThrow('no host available');
    expect(await stores.store.recordedMarks('p1')).toEqual([]); // ingest records it when it meets the mark
  });

  it('bounds its keys at the position first recorded for it, not at its own publish (a producer retry put a copy first)', async () => {
    const { store, inProgress, ledger, publisher } = setUp();
    const keys = new ProfileKeys(store, config);
    await keys.current('p1');
    const meanwhile = new FakeStoredHistoryEraser();
    const erase = meanwhile.erase.bind(meanwhile);
    meanwhile.erase = async (profileId, options) => {
      await new ProfileKeys(store.inRegion('dc2'), config).current(profileId); // a key created meanwhile
      return erase(profileId, options);
    };
    const erasureId = randomUUID();
    const publish = publisher.publishEncoded.bind(publisher);
    publisher.publishEncoded = async (messages) => {
      const [first] = await publish(messages); // the copy the broker kept first, its acknowledgement lost
      await store.recordErasureMark('p1', erasureId, { ...LOG, offset: first.baseOffset }); // ingest met it
      return publish(messages); // the producer's retry: the position the API is told
    };
    await new ProfileErasure(keys, publisher.asPublisher(), meanwhile.asEraser(), ledger, inProgress, config).erase(
      'p1',
      { erasureId },
    );
    const [first, retried] = publisher.published.map((_, i) => String(i));
    expect(retried).toBeDefined();
    expect((await store.read('p1')).map((k) => k.opensAfter)).toEqual([[{ ...LOG, offset: first }]]);
  });
});
