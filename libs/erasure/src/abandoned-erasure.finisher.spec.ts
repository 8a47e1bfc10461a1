import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { newDataKey, seal } from './payload-cipher';
import { ErasureInProgressError } from '@vh/domain';
import type { ViewingEventPublisher } from '@vh/messaging';
import { AbandonedErasureFinisher } from './abandoned-erasure.finisher';
import { ProfileErasure } from './profile-erasure';
import { ProfileKeyOpener } from './profile-key.opener';
import { ProfileKeySealer } from './profile-key.sealer';
import { ProfileKeys } from './profile-keys';
import { ShreddingKeySweeper } from './shredding-key.sweeper';
import {
  FakeIngestProgress,
  FakeMarkPublisher,
  FakeStoredHistoryEraser,
  InMemoryErasureLedger,
  InMemoryErasuresInProgress,
} from './testing/in-memory-erasure-stores';
import { InMemoryKeyStore, PRE_REGION } from './testing/in-memory-profile-key-store';
import { asMessages, play } from './testing/sealed-log';

const config = loadConfig({});
const leaseMs = config.profileKeys.erasureLeaseMs;

/**
 * ADR 9, known gap closed in session 8: an erasure whose API process died after the key step and before its
 * mark stayed in progress for good (its stored rows kept, its key kept, backups leaving the profile out) until
 * someone erased the profile again. Ingest's sweep now finishes it once its lease ran out.
 */
describe('finishing abandoned erasures (AbandonedErasureFinisher, in the sweep)', () => {
  let store: InMemoryKeyStore;
  let inProgress: InMemoryErasuresInProgress;
  let ledger: InMemoryErasureLedger;
  let publisher: FakeMarkPublisher;
  let stored: FakeStoredHistoryEraser;
  let keys: ProfileKeys;
  /** The API, or ingest: one code path, over the same stores. */
  const erasureOf = (eraser = stored.asEraser(), profileKeys = keys) =>
    new ProfileErasure(profileKeys, publisher.asPublisher(), eraser, ledger, inProgress, config);
  /** Ingest's part of the event log: caught up unless a test says otherwise. */
  let progress: FakeIngestProgress;
  const sweeper = () =>
    new ShreddingKeySweeper(
      store,
      progress,
      config,
      new AbandonedErasureFinisher(erasureOf(), inProgress, ledger, progress, config),
    );
  const leaseOver = () => (store.storeClock += leaseMs + 1);
  /** An API that dies once it has moved the key: what is stored is not erased, no mark is published. */
  const dyingEraser = () => {
    const eraser = new FakeStoredHistoryEraser();
    eraser.erase = async () => {
      throw new Error('process killed');
    };
    return eraser.asEraser();
  };
  /** Its erasure: a process killed releases nothing (a failure it survives releases its lease). */
  const dyingErasure = () =>
    new ProfileErasure(
      keys,
      publisher.asPublisher(),
      dyingEraser(),
      ledger,
      Object.assign(Object.create(inProgress) as InMemoryErasuresInProgress, { release: async () => undefined }),
      config,
    );
  /** p1, with a key, erased by an API that died after its key step; its lease ran out since. */
  const abandonedAfterItsKeyStep = async () => {
    await keys.current('p1');
    const abandoned = randomUUID();
    await expect(dyingErasure().erase('p1', { erasureId: abandoned })).rejects.toThrow('process killed');
    leaseOver();
    return abandoned;
  };

  /** The erasure's first delete of a key waits until the returned wake is called (a process stalled there). */
  const stallFirstDelete = () => {
    let wake!: () => void;
    const stalled = new Promise<void>((resolve) => (wake = resolve));
    let first = true;
    const deleteIf = store.deleteIf.bind(store);
    store.deleteIf = async (profileId: string, key: { keyId: string; datacenter: string | null }) => {
      if (first) {
        first = false;
        await stalled;
      }
      return deleteIf(profileId, key);
    };
    return () => wake();
  };

  beforeEach(() => {
    store = new InMemoryKeyStore();
    inProgress = new InMemoryErasuresInProgress(() => store.storeClock);
    ledger = new InMemoryErasureLedger(store, config);
    publisher = new FakeMarkPublisher();
    stored = new FakeStoredHistoryEraser();
    keys = new ProfileKeys(store, config);
    progress = new FakeIngestProgress().set(0, { end: '100', committed: '100' });
  });

  it('finishes an erasure whose API died after the key step, once its lease ran out: stored history erased, a mark put and recorded for it', async () => {
    const { keyId } = await keys.current('p1');
    const abandoned = randomUUID();
    await expect(dyingErasure().erase('p1', { erasureId: abandoned })).rejects.toThrow('process killed');
    expect((await ledger.erasures('p1')).find((e) => e.erasureId === abandoned)?.pending).toBe(true);

    // Within its lease (it may still be running): left alone.
    await sweeper().sweep();
    expect(stored.erased).toEqual([]);
    expect(publisher.published).toEqual([]);

    leaseOver();
    await sweeper().sweep();
    expect(stored.erased).toEqual(['p1']);
    const [mark] = publisher.marksOf('p1');
    expect(mark.erasureId).not.toBe(abandoned);
    // No longer in progress: its mark is the retry's, which lies after everything it covered.
    expect(await ledger.erasures('p1')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          erasureId: abandoned,
          pending: false,
          mark: expect.objectContaining({ offset: '0' }),
        }),
      ]),
    );
    expect(inProgress.rows.size).toBe(0);
    // The retry carries the key: once ingest meets its mark and the grace is over, the key goes.
    expect((await store.listShredding('p1')).map((k) => [k.keyId, k.erasureId])).toEqual([[keyId, mark.erasureId]]);
    await keys.markMet('p1', mark.erasureId, '0');
    store.storeClock += config.profileKeys.shreddingMs + 1;
    expect(await sweeper().sweep()).toMatchObject({ destroyed: 1, unfinished: 0 });
    // And nothing is finished twice.
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
  });

  it('finishes an abandoned erasure of a profile that had no key', async () => {
    await expect(dyingErasure().erase('p1')).rejects.toThrow('process killed');
    leaseOver();
    await sweeper().sweep();
    expect(stored.erased).toEqual(['p1']);
    expect((await ledger.erasures('p1')).filter((e) => e.pending)).toEqual([]);
  });

  it('an API that renews its lease between its steps is never taken over, however slow', async () => {
    await keys.current('p1');
    let sweeps = 0;
    const almostALease = async () => {
      store.storeClock += leaseMs - 1;
      await sweeper().sweep();
      sweeps++;
    };
    const deleteIf = store.deleteIf.bind(store);
    store.deleteIf = async (profileId: string, key: { keyId: string; datacenter: string | null }) => {
      await almostALease(); // the key step took almost a lease, and so does the next: each step renews it
      return deleteIf(profileId, key);
    };
    const slow = new FakeStoredHistoryEraser();
    slow.erase = async (profileId: string) => {
      await almostALease();
      return stored.erase(profileId);
    };
    await erasureOf(slow.asEraser()).erase('p1');
    expect(sweeps).toBe(2);
    expect(publisher.published).toHaveLength(1);
    expect(stored.erased).toEqual(['p1']);
  });

  // A stalled process after its lease: the original API wakes up after ingest finished its erasure, while the
  // member's new history (a new key) has begun. It must not shred the new key nor erase what followed the mark.
  it('an API that stalled past its lease and wakes after the take-over stops before its next step', async () => {
    const { keyId } = await keys.current('p1');
    const wake = stallFirstDelete(); // the original, in its key step
    const original = erasureOf().erase('p1');
    await new Promise((resolve) => setImmediate(resolve));
    leaseOver();
    await sweeper().sweep();
    const [mark] = publisher.marksOf('p1');
    expect(mark).toBeDefined();
    // The member's next event after the mark: a new key, the new history.
    const fresh = await new ProfileKeys(store, config).current('p1');
    expect(fresh.keyId).not.toBe(keyId);

    wake();
    await expect(original).rejects.toThrow(ErasureInProgressError);
    expect((await new ProfileKeys(store, config).existing('p1'))?.keyId).toBe(fresh.keyId);
    expect(stored.erased).toEqual(['p1']); // the retry's only
    expect(publisher.published).toHaveLength(1);
  });

  // Region keys (docs/adr/0012): the finisher runs the same erasure, so it shreds every key of the profile, each
  // region's and its pre-region key, and the one it takes over named them all in the ledger first.
  it('finishes an abandoned erasure of a profile with a key in each of two regions and a pre-region key: every key shredded by the retry', async () => {
    const dc2 = store.inRegion('dc2');
    const keyIds = [(await keys.current('p1')).keyId, (await new ProfileKeys(dc2, config).current('p1')).keyId];
    const preRegion = randomUUID();
    store.createPreRegion('p1', {
      keyId: preRegion,
      wrapped: seal(config.profileKeys.masterKey, newDataKey(), `profile-key\n${'p1'}\n${preRegion}`),
    });
    keyIds.push(preRegion);
    const abandoned = randomUUID();
    await expect(dyingErasure().erase('p1', { erasureId: abandoned })).rejects.toThrow('process killed');
    expect(store.keys.has('p1')).toBe(false);
    expect(store.erasures.find((e) => e.erasureId === abandoned)?.keyIds.sort()).toEqual([...keyIds].sort());
    leaseOver();
    await sweeper().sweep();
    const [mark] = publisher.marksOf('p1');
    expect(stored.erased).toEqual(['p1']);
    // The retry carries every key, so its mark bounds each, and each goes once ingest met it.
    expect((await store.listShredding('p1')).map((k) => [k.keyId, k.erasureId]).sort()).toEqual(
      keyIds.map((keyId) => [keyId, mark.erasureId]).sort(),
    );
    await keys.markMet('p1', mark.erasureId, '0');
    store.storeClock += config.profileKeys.shreddingMs + 1;
    expect(await sweeper().sweep()).toMatchObject({ destroyed: 3, unfinished: 0 });
  });

  it("an API that stalled past its lease in its deletes wakes after the take-over and deletes no region's new key", async () => {
    const dc2 = store.inRegion('dc2');
    await keys.current('p1');
    await new ProfileKeys(dc2, config).current('p1');
    const wake = stallFirstDelete(); // the original, in its round of deletes
    const original = erasureOf().erase('p1');
    await new Promise((resolve) => setImmediate(resolve));
    leaseOver();
    await sweeper().sweep();
    expect(publisher.marksOf('p1')).toHaveLength(1);
    // The member's new history, in both regions: new keys in the rows the original read.
    const fresh = [
      (await new ProfileKeys(store, config).current('p1')).keyId,
      (await new ProfileKeys(dc2, config).current('p1')).keyId,
    ];
    wake();
    await expect(original).rejects.toThrow(ErasureInProgressError);
    expect((await store.read('p1')).map((k) => k.keyId).sort()).toEqual([...fresh].sort());
    // Nor moved to shredding: the new history's keys stay out of the original's erasure.
    expect((await store.listShredding('p1')).filter((k) => fresh.includes(k.keyId))).toEqual([]);
    expect(store.erasures.flatMap((e) => e.keyIds).filter((keyId) => fresh.includes(keyId))).toEqual([]);
    expect(publisher.published).toHaveLength(1);
    expect([...store.keys.get('p1')!.keys()].sort()).toEqual(['dc1', 'dc2']);
    expect(store.keys.get('p1')!.has(PRE_REGION)).toBe(false);
  });

  it('an API that stalled past its lease in its stored-history step removes nothing once it wakes after the take-over', async () => {
    await keys.current('p1');
    let wake!: () => void;
    const stalled = new Promise<void>((resolve) => (wake = resolve));
    const stalling = new FakeStoredHistoryEraser();
    stalling.erase = async (profileId, options) => {
      await stalled; // before its read: what it reads now is the history after the retry's mark
      return stored.erase(profileId, options);
    };
    const original = erasureOf(stalling.asEraser()).erase('p1');
    await new Promise((resolve) => setImmediate(resolve));
    leaseOver();
    await sweeper().sweep();
    expect(stored.erased).toEqual(['p1']);
    wake();
    await expect(original).rejects.toThrow(ErasureInProgressError);
    expect(stored.erased).toEqual(['p1']); // the retry's only
    expect(publisher.published).toHaveLength(1);
  });

  it('an erasure that recorded its mark and died before ending its note is only ended, never erased again', async () => {
    await keys.current('p1');
    const end = inProgress.end.bind(inProgress);
    inProgress.end = async () => {
      throw new Error('process killed');
    };
    // Past its mark the API answers success and leaves the rest to ingest: the state a death there leaves.
    await expect(erasureOf().erase('p1')).resolves.toBeDefined();
    inProgress.end = end;
    await keys.current('p1'); // the new history's key
    leaseOver();
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
    expect(stored.erased).toEqual(['p1']);
    expect(inProgress.rows.size).toBe(0);
    expect(await store.listShredding('p1')).toHaveLength(1);
  });

  // Review of issue 15 (session 13, item 1): an erasure bounds by its mark the keys created while it ran, and
  // ingest does when it meets the mark; an API that died right after publishing its mark, met by an ingest of an
  // older build (which records the mark and bounds nothing), left such a key opening what it sealed before it.
  describe('an API that died right after publishing its mark, with a key created while it ran', () => {
    const THE_LOG = { topic: 'events', partition: 0 };
    const diedAfterItsMark = async () => {
      for (let i = 0; i < 3; i++) await publisher.publishEncoded([{ key: 'other', value: '{}' }]); // the log before
      await keys.current('p1');
      const meanwhile = new FakeStoredHistoryEraser();
      const erase = meanwhile.erase.bind(meanwhile);
      let sealedDuring: string | Buffer = '';
      meanwhile.erase = async (profileId, options) => {
        const collector = new ProfileKeys(store.inRegion('dc2'), config);
        sealedDuring = (await new ProfileKeySealer(collector, config).seal([play(profileId, 'during')]))[0];
        return erase(profileId, options);
      };
      const dying = {
        publishEncoded: async (messages: { key: string; value: string | Buffer }[]) => {
          await publisher.publishEncoded(messages);
          throw new Error('process killed');
        },
      } as unknown as ViewingEventPublisher;
      const erasureId = randomUUID();
      await expect(
        new ProfileErasure(keys, dying, meanwhile.asEraser(), ledger, inProgress, config).erase('p1', { erasureId }),
      ).rejects.toThrow('process killed');
      const markOffset = publisher.published.findIndex((m) => m.key === 'p1');
      const opened = async () =>
        (
          await new ProfileKeyOpener(new ProfileKeys(store, config)).open(
            asMessages([sealedDuring], markOffset - 1),
            THE_LOG,
          )
        )[0];
      return { erasureId, markOffset, mark: publisher.published[markOffset].value, opened };
    };

    it('ingest meeting the mark bounds the key', async () => {
      const { markOffset, mark, opened } = await diedAfterItsMark();
      expect((await opened()).kind).toBe('event');
      await new ProfileKeyOpener(new ProfileKeys(store, config)).open(asMessages([mark], markOffset), THE_LOG);
      expect(await opened()).toEqual({ kind: 'erased', profileId: 'p1' });
    });

    it('the sweep bounds it once the mark is recorded by an ingest that did not', async () => {
      const { erasureId, markOffset, opened } = await diedAfterItsMark();
      await store.recordErasureMark('p1', erasureId, { ...THE_LOG, offset: String(markOffset) }); // an older ingest
      expect((await opened()).kind).toBe('event');
      leaseOver();
      await sweeper().sweep();
      expect(publisher.marksOf('p1')).toHaveLength(1); // not erased again
      expect(inProgress.rows.size).toBe(0);
      expect(await opened()).toEqual({ kind: 'erased', profileId: 'p1' });
    });
  });

  it('two ingest processes sweeping at once finish an abandoned erasure once', async () => {
    await keys.current('p1');
    await expect(dyingErasure().erase('p1')).rejects.toThrow('process killed');
    leaseOver();
    await Promise.all([sweeper().sweep(), sweeper().sweep()]);
    expect(publisher.published).toHaveLength(1);
    expect(stored.erased).toEqual(['p1']);
  });

  it('a key past its grace whose erasure was never noted in progress (an older build) is noted, and finished once that lease runs out', async () => {
    await keys.current('p1');
    const older = randomUUID();
    await keys.erase('p1', older); // the key step only, as before the notes existed
    store.storeClock += config.profileKeys.shreddingMs + 1;
    expect(await sweeper().sweep()).toMatchObject({ unfinished: 1 });
    expect(publisher.published).toEqual([]);
    leaseOver();
    await sweeper().sweep();
    expect(stored.erased).toEqual(['p1']);
    expect((await ledger.erasures('p1')).find((e) => e.erasureId === older)).toMatchObject({ pending: false });
  });

  it('a key past its grace whose erasure recorded its mark waits for ingest to meet it: not erased again', async () => {
    await keys.current('p1');
    await erasureOf().erase('p1');
    store.storeClock += config.profileKeys.shreddingMs + 1;
    await sweeper().sweep();
    leaseOver();
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
    expect(inProgress.rows.size).toBe(0);
  });

  it("a member's retry takes over an abandoned erasure and ends its note", async () => {
    const abandoned = await abandonedAfterItsKeyStep();
    expect((await erasureOf().erase('p1')).tookOver).toEqual([abandoned]);
    expect(inProgress.rows.size).toBe(0);
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
  });

  // An API that died between publishing its mark and recording it, while ingest lags: the mark is on its way.
  // Erasing again then would take the profile's history after that mark too (everything before a later mark).
  it('an erasure whose mark is on the log but not met yet is not erased again while ingest is short of the fence', async () => {
    await keys.current('p1');
    const erasureId = randomUUID();
    const recordMark = ledger.recordMark.bind(ledger);
    ledger.recordMark = async () => {
      throw new Error('process killed');
    };
    // Past its mark the API answers success and leaves the rest to ingest: the state a death there leaves.
    await expect(erasureOf().erase('p1', { erasureId })).resolves.toBeDefined();
    ledger.recordMark = recordMark;
    leaseOver();
    progress.set(0, { end: '120', committed: '90' }); // the mark lies in between
    await sweeper().sweep();
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
    expect(inProgress.rows.get(`p1/${erasureId}`)?.fence).toEqual({ partition: 0, offset: '120' });
    // Ingest meets the mark (and records it), then commits past the fence: the erasure is done, only ended.
    await keys.markMet('p1', erasureId, '95', { topic: 'events', partition: 0 });
    progress.set(0, { end: '130', committed: '130' });
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
    expect(inProgress.rows.size).toBe(0);
  });

  // Review, session 8: E1 abandoned after its key step; the retry E2 (the finisher, or a member's) took it over,
  // published its mark M2 and died before recording it (or between recording E2's and E1's). Ingest met M2, which
  // names E2 only (a mark published without the erasures it finishes: an older build's). E1's note (owner E2) ran
  // out of lease without a mark of its own: the finisher erased the profile a third time, and everything the
  // member wrote between M2 and that third mark went too, even from a replay.
  it('an erasure taken over by a retry that died before recording its mark: once ingest met that mark, it is only ended, never erased again', async () => {
    const abandoned = await abandonedAfterItsKeyStep();
    const recordMark = ledger.recordMark.bind(ledger);
    ledger.recordMark = async () => {
      throw new Error('ingest killed');
    };
    await sweeper().sweep(); // the finisher takes E1 over, erases, publishes M2, and dies before recording it
    ledger.recordMark = recordMark;
    const [m2] = publisher.marksOf('p1');
    expect(m2.erasureId).not.toBe(abandoned);
    expect(JSON.parse(publisher.published[0].value)).toMatchObject({ covers: [abandoned] }); // ingest now records both
    // Ingest meets M2 as an older build's mark (its own erasure only), then the member's new history.
    await keys.markMet('p1', m2.erasureId, '0', { topic: 'events', partition: 0 });
    await keys.current('p1');
    stored.erased.length = 0;
    leaseOver();
    progress.set(0, { end: '200', committed: '200' });
    await sweeper().sweep();
    await sweeper().sweep();
    expect(stored.erased).toEqual([]); // the new history after M2 survives
    expect(publisher.published).toHaveLength(1);
    expect(inProgress.rows.size).toBe(0);
    // E1 is no longer in progress (backups, re-drive): its mark is M2, where ingest met it.
    expect((await ledger.erasures('p1')).find((e) => e.erasureId === abandoned)).toMatchObject({
      pending: false,
      mark: { topic: 'events', partition: 0, offset: '0' },
    });
  });

  // Review of the merge: the sweep ended a note by what it read before the ledger, unconditionally; a retry that
  // took the erasure over in between lost its note, and stopped at its next renewal.
  it('ends a note only if its owner is still the one the sweep read: a retry that took it over meanwhile keeps it', async () => {
    const abandoned = await abandonedAfterItsKeyStep();
    const recordMark = ledger.recordMark.bind(ledger);
    ledger.recordMark = async () => {
      throw new Error('ingest killed');
    };
    await sweeper().sweep(); // R1 takes E1 over, publishes its mark, dies before recording it
    ledger.recordMark = recordMark;
    const [m1] = publisher.marksOf('p1');
    await keys.markMet('p1', m1.erasureId, '0', { topic: 'events', partition: 0 });
    leaseOver();
    const retry = randomUUID();
    const read = ledger.erasures.bind(ledger);
    ledger.erasures = async (profileId: string) => {
      // Between the sweep's read of the notes (E1 is R1's) and its end: a retry takes E1 over from R1.
      await inProgress.begin(profileId, retry, leaseMs);
      expect(await inProgress.takeOver(profileId, abandoned, m1.erasureId, retry, leaseMs)).toBe(true);
      ledger.erasures = read;
      return read(profileId);
    };
    await sweeper().sweep();
    expect(inProgress.rows.get(`p1/${abandoned}`)?.owner).toBe(retry);
    expect(await inProgress.hold('p1', retry, leaseMs, [abandoned])).toBe(true);
  });

  // Review, session 8: the retry renewed only its own note, so an erasure it took over ran out of lease again
  // while the retry still ran (each step shorter than a lease, the whole longer); another ingest's sweep then took
  // that erasure over from the live retry: two erasures at once, two marks, what lay between them erased.
  it('a retry renews the leases of the erasures it took over: however long it runs, no sweep takes them from it', async () => {
    const abandoned = await abandonedAfterItsKeyStep();
    const slow = new FakeStoredHistoryEraser();
    slow.erase = async (profileId, options) => {
      store.storeClock += leaseMs - 1;
      await options?.hold?.();
      store.storeClock += leaseMs - 1;
      await sweeper().sweep(); // another ingest's sweep while the retry is alive
      return stored.erase(profileId, options);
    };
    expect((await erasureOf(slow.asEraser()).erase('p1')).tookOver).toEqual([abandoned]);
    expect(publisher.published).toHaveLength(1);
    expect(stored.erased).toEqual(['p1']);
    expect(inProgress.rows.size).toBe(0);
  });

  it('an erasure whose lease ran out while the retry that took it over still holds its own is not taken from that retry', async () => {
    const abandoned = await abandonedAfterItsKeyStep();
    const slow = new FakeStoredHistoryEraser();
    slow.erase = async (profileId, options) => {
      // As a retry of an older build left it: its own note renewed, the one it took over not.
      inProgress.rows.get(`p1/${abandoned}`)!.leaseUntil = store.storeClock - 1;
      await sweeper().sweep();
      expect(publisher.published).toEqual([]);
      // A member's erasure meanwhile does not take it either: it is refused (409) while the retry runs, so that
      // no mark of the retry's lands after its 202 (session 14).
      await expect(erasureOf().erase('p1')).rejects.toMatchObject({ during: 'erasure' });
      return stored.erase(profileId, options);
    };
    expect((await erasureOf(slow.asEraser()).erase('p1')).tookOver).toEqual([abandoned]);
    expect(publisher.published).toHaveLength(1);
    expect(inProgress.rows.size).toBe(0);
  });

  it('an abandoned erasure waits for an ingest that lags, then is finished once ingest is past the fence', async () => {
    await keys.current('p1');
    await expect(dyingErasure().erase('p1')).rejects.toThrow('process killed');
    leaseOver();
    progress.set(0, { end: '120', committed: '90' });
    await sweeper().sweep();
    expect(publisher.published).toEqual([]);
    progress.set(0, { end: '150', committed: '120' }); // the fence stays where it was read
    await sweeper().sweep();
    expect(publisher.published).toHaveLength(1);
    expect(stored.erased).toEqual(['p1']);
  });
});
