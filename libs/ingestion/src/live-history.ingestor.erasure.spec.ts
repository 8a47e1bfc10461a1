import { KafkaMessage } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import {
  DeadLetter,
  DeadLetterSink,
  EventLogBatch,
  EventLogOpener,
  LogMessage,
  OpenedMessage,
  openPlaintext,
} from '@vh/messaging';
import { UnknownProfileKeyError } from '@vh/erasure';
import { metrics } from '@vh/metrics';
import { AppendOptions, FailedWrite, LiveHistoryWriter } from '@vh/storage';
import { LiveHistoryIngestor, ProfileHistoryEraser, StaleKeyCopy, StaleKeyRepublisher } from './live-history.ingestor';

/** One ordered journal of what reached storage: writes and erasures, to check their order. */
const journal: string[] = [];

class JournalLiveHistory implements LiveHistoryWriter {
  async append(events: readonly ViewingEvent[], options: AppendOptions = {}): Promise<FailedWrite[]> {
    for (const e of events) {
      const after = options.writtenAfterUs?.get(e.profileId);
      journal.push(`write ${e.eventId}${after === undefined ? '' : ` after ${after}`}`);
    }
    return [];
  }
}

class JournalEraser extends ProfileHistoryEraser {
  failuresLeft = 0;
  erasureTombstoneUs: number | null = null;
  async erase(
    profileId: string,
    options?: { hold?: () => Promise<void> },
  ): Promise<{ erasureTombstoneUs: number | null }> {
    if (this.failuresLeft-- > 0) throw new Error('no host available');
    await options?.hold?.(); // after its reads, before its deletes, as StoredHistoryEraser
    journal.push(`erase ${profileId}`);
    return { erasureTombstoneUs: this.erasureTombstoneUs };
  }
  recorded = new Map<string, number>();
  recordReads = 0;
  recordUnreadable = false;
  async erasureTombstonesAhead(): Promise<ReadonlyMap<string, number>> {
    this.recordReads++;
    if (this.recordUnreadable) throw new Error('no host available');
    return this.recorded;
  }
  forgetRemembered(): void {
    journal.push('forget remembered index rows');
  }
}

class JournalRepublisher extends StaleKeyRepublisher {
  down = false;
  readonly loggedAt = new Map<string, string>();
  readonly source = new Map<string, string>();
  async republish(copies: readonly StaleKeyCopy[]): Promise<void> {
    if (this.down) throw new Error('broker unreachable');
    for (const { event, loggedAt, source } of copies) {
      journal.push(`republish ${event.eventId}`);
      this.loggedAt.set(event.eventId, loggedAt);
      this.source.set(event.eventId, source);
    }
  }
}

/**
 * Messages "ERASED" and "MARK" stand for a payload of an erased key and an erasure's mark; "STALE:<json>"
 * for an event sealed after the mark with the erased key a collector had cached.
 */
class ScriptedOpener extends EventLogOpener {
  down = false;
  forgotten = 0;
  async open(messages: readonly LogMessage[]): Promise<OpenedMessage[]> {
    if (this.down) throw new Error('keys keyspace unreachable');
    if (messages.some((m) => m.value?.toString() === 'UNKNOWN')) throw new UnknownProfileKeyError('profile-1', 'k9');
    return messages.map((m) => {
      const text = m.value?.toString();
      if (text?.startsWith('STALE:')) {
        const opened = openPlaintext({ ...m, value: Buffer.from(text.slice(6)) });
        return opened.kind === 'event' ? { ...opened, staleKey: true } : opened;
      }
      if (text === 'ERASED') return { kind: 'erased', profileId: 'profile-1' };
      if (text === 'MARK') return { kind: 'profile-erased', profileId: 'profile-1', erasureId: 'e1' };
      if (text === 'LATE-MARK')
        return { kind: 'profile-erased', profileId: 'profile-1', erasureId: 'e0', superseded: true };
      return openPlaintext(m);
    });
  }
  override forgetCached(): void {
    this.forgotten++;
  }
}

class Letters extends DeadLetterSink {
  letters: DeadLetter[] = [];
  async publish(letters: readonly DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }
}

const T0 = Date.parse('2026-01-01T00:00:00Z');
const control = { heartbeat: async () => undefined, isRunning: () => true };
const batchOf = (values: string[]): EventLogBatch => ({
  topic: 'events',
  partition: 0,
  highWatermark: '100',
  lastOffset: String(values.length - 1),
  messages: values.map((value, i): KafkaMessage => ({
    offset: String(i),
    key: Buffer.from('profile-1'),
    value: Buffer.from(value),
    timestamp: String(T0),
    attributes: 0,
    headers: {},
  })),
});

describe('LiveHistoryIngestor and erasures', () => {
  const before = playbackEvent('play', T0, 0);
  const after = playbackEvent('play', T0 + 5_000, 0);
  let opener: ScriptedOpener;
  let eraser: JournalEraser;
  let letters: Letters;
  let republisher: JournalRepublisher;
  let ingestor: LiveHistoryIngestor;
  beforeEach(() => {
    journal.length = 0;
    opener = new ScriptedOpener();
    eraser = new JournalEraser();
    letters = new Letters();
    republisher = new JournalRepublisher();
    ingestor = new LiveHistoryIngestor(new JournalLiveHistory(), letters, loadConfig({}), opener, eraser, republisher);
  });

  it('an event after the mark sealed with the erased key is written and re-published with the current key', async () => {
    const batch = batchOf([encodeViewingEvent(before), 'MARK', `STALE:${encodeViewingEvent(after)}`]);
    republisher.down = true;
    const failed = await ingestor.handleBatch(batch, control);
    expect(failed).toMatchObject({ status: 'retry-later', reason: expect.stringContaining('re-publish') });
    expect(journal).toEqual([]);

    republisher.down = false;
    batch.messages[2].timestamp = String(T0 + 7_000); // when the log took the original
    expect(await ingestor.handleBatch(batch, control)).toEqual({ status: 'done' });
    // The copy keeps the original's log time: a restore --until between the two takes it (the original's key
    // is destroyed by then), as it would have taken the original (review of issue 15, session 14).
    expect(republisher.loggedAt.get(after.eventId)).toBe(String(T0 + 7_000));
    // ... and names where its original lay: the copy lands at the end of the partition, perhaps after a later
    // erasure's mark, which erases it as it erased the original (review of issue 15, session 14: it came back).
    expect(republisher.source.get(after.eventId)).toBe('events/0/2');
    // The copy is on the log before the batch is done: a replay once the old key is gone still reads it.
    expect(journal).toEqual([
      `republish ${after.eventId}`,
      `write ${before.eventId}`,
      'erase profile-1',
      `write ${after.eventId}`,
    ]);
  });

  // Review, session 6: another profile's mark split the batch, and erasing can take seconds: a compaction of
  // profile-2 in between saw its session without the resume accepted before it.
  it("writes other profiles' controls before the first mark of the batch, ahead of their playback rows", async () => {
    const session = { ...playbackEvent('play', T0, 0), profileId: 'profile-2' };
    const resume: ViewingEvent = {
      type: 'settings-changed',
      eventId: '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
      profileId: 'profile-2',
      recording: 'on',
      occurredAt: T0 - 500,
      acceptedAt: T0 - 500,
    };
    const outcome = await ingestor.handleBatch(
      batchOf([encodeViewingEvent(session), 'MARK', encodeViewingEvent(resume)]),
      control,
    );
    expect(outcome).toEqual({ status: 'done' });
    expect(journal).toEqual([`write ${resume.eventId}`, `write ${session.eventId}`, 'erase profile-1']);
  });

  // ADR 9 (review of issue 15, item 4): a mark published late, after the mark that finished its erasure.
  it('erases nothing at a superseded mark: what follows it is the history acknowledged since the mark that counted', async () => {
    const outcome = await ingestor.handleBatch(
      batchOf([encodeViewingEvent(before), 'LATE-MARK', encodeViewingEvent(after)]),
      control,
    );
    expect(outcome).toEqual({ status: 'done' });
    expect(journal).toEqual([`write ${before.eventId}`, `write ${after.eventId}`]);
  });

  it('writes what came before a mark, erases, then writes what follows, in the log order', async () => {
    const outcome = await ingestor.handleBatch(
      batchOf([encodeViewingEvent(before), 'MARK', encodeViewingEvent(after)]),
      control,
    );
    expect(outcome).toEqual({ status: 'done' });
    expect(journal).toEqual([`write ${before.eventId}`, 'erase profile-1', `write ${after.eventId}`]);
  });

  // An erasure's tombstone is dated at the newest write time read: after a crash, another host's, ahead of ours.
  it('dates the rows written after its erasure past the tombstone, each write past the last, while ahead of its clock', async () => {
    const aheadUs = (Date.now() + 60_000) * 1000;
    eraser.erasureTombstoneUs = aheadUs;
    const other = { ...playbackEvent('play', T0, 0), profileId: 'profile-2' };
    const batch = [encodeViewingEvent(before), 'MARK', encodeViewingEvent(after), encodeViewingEvent(other)];
    expect(await ingestor.handleBatch(batchOf(batch), control)).toEqual({ status: 'done' });
    const next = playbackEvent('play', T0 + 9_000, 0);
    expect(await ingestor.handleBatch(batchOf([encodeViewingEvent(next)]), control)).toEqual({ status: 'done' });
    expect(journal).toEqual([
      `write ${before.eventId}`,
      'erase profile-1',
      `write ${after.eventId} after ${aheadUs}`,
      `write ${other.eventId}`,
      // Each write after the previous one (review, session 11): a copy written later never ties with one a
      // compaction read and deletes by key at its write time, nor with a later erasure's tombstone.
      `write ${next.eventId} after ${aheadUs + 1}`,
    ]);

    // A tombstone behind our clock (the usual case): any write is later, at the default write time.
    journal.length = 0;
    eraser.erasureTombstoneUs = (Date.now() - 1_000) * 1000;
    ingestor = new LiveHistoryIngestor(new JournalLiveHistory(), letters, loadConfig({}), opener, eraser, republisher);
    expect(await ingestor.handleBatch(batchOf(['MARK', encodeViewingEvent(next)]), control)).toEqual({
      status: 'done',
    });
    expect(journal).toEqual(['erase profile-1', `write ${next.eventId}`]);
  });

  // Review, session 11: the memory of a tombstone was the erasing process's; a rebalance within the skew lost it.
  it('dates its rows after the tombstones on record once per assignment, before writing; unreadable, it retries', async () => {
    const aheadUs = (Date.now() + 60_000) * 1000;
    eraser.recorded = new Map([['profile-1', aheadUs]]);
    eraser.recordUnreadable = true;
    const batch = batchOf([encodeViewingEvent(after)]);
    expect(await ingestor.handleBatch(batch, control)).toMatchObject({ status: 'retry-later' });
    expect(journal).toEqual([]);

    eraser.recordUnreadable = false;
    expect(await ingestor.handleBatch(batch, control)).toEqual({ status: 'done' });
    const next = playbackEvent('play', T0 + 9_000, 0);
    expect(await ingestor.handleBatch(batchOf([encodeViewingEvent(next)]), control)).toEqual({ status: 'done' });
    // A second past the tombstone: past any row the previous owner dated one microsecond a batch after it.
    const seededUs = aheadUs + 1_000_000;
    expect(journal).toEqual([
      `write ${after.eventId} after ${seededUs}`,
      `write ${next.eventId} after ${seededUs + 1}`,
    ]);
    expect(eraser.recordReads).toBe(2);

    ingestor.onAssignmentChange();
    await ingestor.handleBatch(batchOf([encodeViewingEvent(next)]), control);
    expect(eraser.recordReads).toBe(3);
  });

  // Review, session 11: a process that stalled past its session, erasing at the mark on waking, would read the
  // new owner's rows after the mark as the newest and delete them.
  it('deletes nothing at a mark once the group says the partition moved on (a stall past its session)', async () => {
    // As kafkajs answers a member the group removed: the heartbeat throws (UNKNOWN_MEMBER_ID), running or not.
    const removed = {
      heartbeat: async () => {
        throw new Error('The coordinator is not aware of this member');
      },
      isRunning: () => true,
    };
    const outcome = await ingestor.handleBatch(batchOf(['MARK', encodeViewingEvent(after)]), removed);
    expect(outcome).toMatchObject({ status: 'retry-later', reason: expect.stringContaining('heartbeat') });
    expect(journal).toEqual([]);

    let running = true;
    const stopping = { heartbeat: async () => void (running = false), isRunning: () => running };
    expect(await ingestor.handleBatch(batchOf(['MARK']), stopping)).toMatchObject({ status: 'retry-later' });
    expect(journal).toEqual([]);
  });

  it('skips events of an erased key: counted, never dead-lettered', async () => {
    const outcome = await ingestor.handleBatch(batchOf(['ERASED', 'ERASED', encodeViewingEvent(after)]), control);
    expect(outcome).toEqual({ status: 'done', erased: 2 });
    expect(letters.letters).toEqual([]);
    expect(journal).toEqual([`write ${after.eventId}`]);
  });

  it('retries when the keys cannot be read, and when the erasure fails: nothing is skipped', async () => {
    opener.down = true;
    const unreadable = await ingestor.handleBatch(batchOf([encodeViewingEvent(before)]), control);
    expect(unreadable).toMatchObject({ status: 'retry-later', reason: expect.stringContaining('profile keys') });
    expect(letters.letters).toEqual([]);

    opener.down = false;
    eraser.failuresLeft = 2;
    const outcome = await ingestor.handleBatch(batchOf(['MARK', encodeViewingEvent(after)]), control);
    expect(outcome).toEqual({ status: 'done' });
    expect(journal).toEqual(['erase profile-1', `write ${after.eventId}`]);
  });

  it('a key nobody knows (keys keyspace restored empty) pauses the batch, counted and said why: never erased, never dead-lettered', async () => {
    const waits = (await metrics.unknownProfileKeys.get()).values[0]?.value ?? 0;
    const outcome = await ingestor.handleBatch(batchOf([encodeViewingEvent(before), 'UNKNOWN']), control);
    expect(outcome).toMatchObject({ status: 'retry-later', reason: expect.stringContaining('erasure ledger') });
    expect((await metrics.unknownProfileKeys.get()).values[0]?.value).toBe(waits + 1);
    expect(letters.letters).toEqual([]);
    expect(journal).toEqual([]);
  });

  it('forgets cached keys, and the index rows it remembers writing, when the group rebalances', () => {
    ingestor.onAssignmentChange();
    expect(opener.forgotten).toBe(1);
    // Another process may have met an erasure mark of a partition this one takes back and deleted those rows.
    expect(journal).toContain('forget remembered index rows');
  });
});
