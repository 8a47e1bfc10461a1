import { KafkaMessage } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { DependencyUnavailableError, encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import { DeadLetter, DeadLetterSink, EventLogBatch } from '@vh/messaging';
import { errors, types } from 'cassandra-driver';
import { AppendOptions, FailedWrite, LiveHistoryWriter, RowRejectedError, writeFailure } from '@vh/storage';
import { LiveHistoryIngestor } from './live-history.ingestor';

/** In-memory live history that can be told to fail, transiently or for one row. */
class FakeLiveHistory implements LiveHistoryWriter {
  rows = new Map<string, ViewingEvent>();
  transientFailuresLeft = 0;
  unavailableBecause = 'All host(s) tried for query failed';
  rejectEventId: string | null = null;
  /** An Invalid answer whose message no rule recognises, on a settled schema, for this row. */
  unrecognisedEventId: string | null = null;
  unrecognisedMessage = 'Something new the server says';
  /** Every row refused with that answer: the cluster's state (a guardrail, a setting), not any row. */
  unrecognisedForAll = false;
  calls: AppendOptions[] = [];
  /** The event types of each append, in call order. */
  appended: string[][] = [];
  /** Control rows (not playback) fail as unavailable while this is set. */
  controlsUnavailable = false;

  async append(events: readonly ViewingEvent[], options: AppendOptions = {}): Promise<FailedWrite[]> {
    this.calls.push(options);
    this.appended.push(events.map((e) => e.type));
    if (this.controlsUnavailable && events.some((e) => !['play', 'pause', 'stop'].includes(e.type))) {
      return [{ events: [...events], error: new DependencyUnavailableError('cassandra', this.unavailableBecause) }];
    }
    if (this.transientFailuresLeft > 0) {
      this.transientFailuresLeft--;
      return [{ events: [...events], error: new DependencyUnavailableError('cassandra', this.unavailableBecause) }];
    }
    const size = options.rowsPerBatch ?? 20;
    const failed: FailedWrite[] = [];
    for (let i = 0; i < events.length; i += size) {
      const group = events.slice(i, i + size);
      if (this.unrecognisedForAll || group.some((e) => e.eventId === this.unrecognisedEventId)) {
        const invalid = new errors.ResponseError(types.responseErrorCodes.invalid, this.unrecognisedMessage);
        failed.push({ events: group, error: writeFailure(invalid, null) });
      } else if (group.some((e) => e.eventId === this.rejectEventId)) {
        failed.push({ events: group, error: new RowRejectedError('invalid (0x2200): value out of range') });
      } else {
        for (const e of group) this.rows.set(e.eventId, e);
      }
    }
    return failed;
  }
}

class FakeDeadLetters extends DeadLetterSink {
  letters: DeadLetter[] = [];
  down = false;
  async publish(letters: readonly DeadLetter[]): Promise<void> {
    if (this.down) throw new Error('broker down');
    this.letters.push(...letters);
  }
}

const T0 = Date.parse('2026-01-01T00:00:00Z');
const control = { heartbeat: async () => undefined, isRunning: () => true };

function batchOf(values: (string | null)[]): EventLogBatch {
  const messages = values.map((value, i): KafkaMessage => ({
    offset: String(100 + i),
    key: Buffer.from('profile-1'),
    value: value === null ? null : Buffer.from(value),
    timestamp: String(T0),
    attributes: 0,
    headers: {},
  }));
  return { topic: 'events', partition: 3, messages, highWatermark: '200', lastOffset: messages.at(-1)?.offset ?? '99' };
}

function setup(env: Record<string, string> = {}) {
  const live = new FakeLiveHistory();
  const deadLetters = new FakeDeadLetters();
  const ingestor = new LiveHistoryIngestor(live, deadLetters, loadConfig(env));
  return { live, deadLetters, ingestor };
}

describe('LiveHistoryIngestor', () => {
  const events = [
    playbackEvent('play', T0, 0),
    playbackEvent('pause', T0 + 1000, 1000),
    playbackEvent('stop', T0 + 2000, 2000),
  ];

  it('writes every valid event and reports the batch done', async () => {
    const { live, ingestor } = setup();
    const outcome = await ingestor.handleBatch(batchOf(events.map(encodeViewingEvent)), control);
    expect(outcome).toEqual({ status: 'done' });
    expect([...live.rows.keys()].sort()).toEqual(events.map((e) => e.eventId).sort());
  });

  it('dead-letters an invalid message with the reason and its source offset, and writes the rest', async () => {
    const { live, deadLetters, ingestor } = setup();
    const outcome = await ingestor.handleBatch(batchOf([encodeViewingEvent(events[0]), 'garbage', null]), control);
    expect(outcome.status).toBe('done');
    expect(live.rows.size).toBe(1);
    expect(deadLetters.letters.map((l) => [l.sourceOffset, l.sourcePartition, l.reason])).toEqual([
      ['101', 3, expect.stringMatching(/not valid JSON/)],
      ['102', 3, expect.stringMatching(/empty/)],
    ]);
  });

  it('retries transient storage errors with backoff until they pass', async () => {
    const { live, ingestor } = setup();
    live.transientFailuresLeft = 2;
    const outcome = await ingestor.handleBatch(batchOf(events.map(encodeViewingEvent)), control);
    expect(outcome.status).toBe('done');
    expect(live.rows.size).toBe(3);
    expect(live.calls).toHaveLength(3);
  });

  it('hands the batch back (retry later) once the retry budget is spent, writing nothing it claims', async () => {
    const { live, deadLetters, ingestor } = setup({ INGEST_RETRY_BUDGET_MS: '0' });
    live.transientFailuresLeft = 100;
    const outcome = await ingestor.handleBatch(batchOf(events.map(encodeViewingEvent)), control);
    expect(outcome).toEqual({ status: 'retry-later', reason: expect.stringMatching(/3 events not written/) });
    expect(deadLetters.letters).toEqual([]);
  });

  it('never dead-letters an event while storage is unavailable, however long: the batch comes back until written', async () => {
    const { live, deadLetters, ingestor } = setup({ INGEST_RETRY_BUDGET_MS: '0' });
    live.transientFailuresLeft = 500;
    const batch = batchOf(events.map(encodeViewingEvent));
    // The consumer pauses the partition and hands the same batch back after each retry-later.
    for (let attempt = 0; attempt < 500; attempt++) {
      const outcome = await ingestor.handleBatch(batch, control);
      expect(outcome.status).toBe('retry-later');
    }
    expect(await ingestor.handleBatch(batch, control)).toEqual({ status: 'done' });
    expect([...live.rows.keys()].sort()).toEqual(events.map((e) => e.eventId).sort());
    expect(deadLetters.letters).toEqual([]);
  });

  it('waits for a keyspace without its tables and says why, dead-lettering nothing', async () => {
    const { live, deadLetters, ingestor } = setup({ INGEST_RETRY_BUDGET_MS: '0' });
    live.transientFailuresLeft = 3;
    live.unavailableBecause = 'keyspace vh lacks migrations 1, 2: run `npm run migrate`';
    const batch = batchOf(events.map(encodeViewingEvent));
    for (let attempt = 0; attempt < 3; attempt++)
      expect(await ingestor.handleBatch(batch, control)).toEqual({
        status: 'retry-later',
        reason: expect.stringMatching(/3 events not written: cassandra is unavailable: keyspace vh lacks migrations/),
      });
    expect(await ingestor.handleBatch(batch, control)).toEqual({ status: 'done' });
    expect(live.rows.size).toBe(3);
    expect(deadLetters.letters).toEqual([]);
  });

  it('stops retrying when the consumer is stopping', async () => {
    const { live, ingestor } = setup();
    live.transientFailuresLeft = 100;
    const outcome = await ingestor.handleBatch(batchOf(events.map(encodeViewingEvent)), {
      ...control,
      isRunning: () => false,
    });
    expect(outcome.status).toBe('retry-later');
    expect(live.calls).toHaveLength(1);
  });

  it('isolates a row that storage rejects outright and dead-letters only that one', async () => {
    const { live, deadLetters, ingestor } = setup();
    live.rejectEventId = events[1].eventId;
    const outcome = await ingestor.handleBatch(batchOf(events.map(encodeViewingEvent)), control);
    expect(outcome.status).toBe('done');
    expect([...live.rows.keys()].sort()).toEqual([events[0].eventId, events[2].eventId].sort());
    expect(deadLetters.letters).toEqual([
      expect.objectContaining({ sourceOffset: '101', reason: expect.stringMatching(/rejected by storage/) }),
    ]);
    expect(live.calls.at(-1)).toEqual({ rowsPerBatch: 1 });
  });

  describe('an Invalid answer no rule recognises, on a settled schema', () => {
    const env = {
      INGEST_RETRY_BUDGET_MS: '0',
      INGEST_UNRECOGNISED_REFUSAL_ATTEMPTS: '4',
      INGEST_UNRECOGNISED_REFUSAL_MIN_MS: '900000',
    };
    let now = T0;
    beforeEach(() => (now = T0));
    afterEach(() => jest.restoreAllMocks());

    /** Hands the same batch back as the consumer does after each pause, `minutesApart` minutes apart. */
    async function attempts(ingestor: LiveHistoryIngestor, batch: EventLogBatch, count: number, minutesApart: number) {
      const outcomes = [];
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
      for (let i = 0; i < count; i++) {
        outcomes.push(await ingestor.handleBatch(batch, control));
        now += minutesApart * 60_000;
      }
      clock.mockRestore();
      return outcomes;
    }

    it('is retried (one row at a time, named in the reason) until it has failed alone often enough, over long enough', async () => {
      const { live, deadLetters, ingestor } = setup(env);
      live.unrecognisedEventId = events[1].eventId;
      const batch = batchOf(events.map(encodeViewingEvent));
      // Four attempts within a minute: a passing cluster state (invariant 2), not yet the row's fault.
      const quick = await attempts(ingestor, batch, 4, 0.1);
      expect(quick.map((o) => o.status)).toEqual(['retry-later', 'retry-later', 'retry-later', 'retry-later']);
      expect(quick[3]).toEqual({
        status: 'retry-later',
        reason: expect.stringMatching(/1 events not written: .*Something new the server says/),
      });
      expect(deadLetters.letters).toEqual([]);
      expect(live.calls.at(-1)).toEqual({ rowsPerBatch: 1 });
      expect([...live.rows.keys()].sort()).toEqual([events[0].eventId, events[2].eventId].sort());
    });

    it('is dead-lettered, naming the storage message, after the attempts spread over the minimum time, so the partition moves on', async () => {
      const { live, deadLetters, ingestor } = setup(env);
      live.unrecognisedEventId = events[1].eventId;
      const batch = batchOf(events.map(encodeViewingEvent));
      const outcomes = await attempts(ingestor, batch, 5, 4);
      expect(outcomes.map((o) => o.status)).toEqual([
        'retry-later',
        'retry-later',
        'retry-later',
        'retry-later',
        'done',
      ]);
      expect(deadLetters.letters).toEqual([
        expect.objectContaining({
          sourceOffset: '101',
          reason: expect.stringMatching(
            /rejected by storage after 5 attempts over 16 min.*Something new the server says/,
          ),
        }),
      ]);
      expect([...live.rows.keys()].sort()).toEqual([events[0].eventId, events[2].eventId].sort());
    });

    it('never dead-letters while every row is refused alike: that is the cluster, not a row (invariant 2)', async () => {
      const { live, deadLetters, ingestor } = setup(env);
      live.unrecognisedForAll = true;
      const batch = batchOf(events.map(encodeViewingEvent));
      const outcomes = await attempts(ingestor, batch, 8, 10);
      expect(outcomes.every((o) => o.status === 'retry-later')).toBe(true);
      expect(deadLetters.letters).toEqual([]);
      expect(live.rows.size).toBe(0);
    });

    it('starts counting again for a row that was written in between (a passing state, not the row)', async () => {
      const { live, deadLetters, ingestor } = setup(env);
      live.unrecognisedEventId = events[1].eventId;
      const batch = batchOf(events.map(encodeViewingEvent));
      await attempts(ingestor, batch, 3, 4);
      live.unrecognisedEventId = null;
      expect((await attempts(ingestor, batch, 1, 4))[0]).toEqual({ status: 'done' });
      live.unrecognisedEventId = events[1].eventId;
      const again = await attempts(ingestor, batch, 3, 4);
      expect(again.map((o) => o.status)).toEqual(['retry-later', 'retry-later', 'retry-later']);
      expect(deadLetters.letters).toEqual([]);
    });
  });

  it('retries later when the dead-letter topic cannot take the letters, so no message is skipped', async () => {
    const { deadLetters, ingestor } = setup();
    deadLetters.down = true;
    const outcome = await ingestor.handleBatch(batchOf(['garbage']), control);
    expect(outcome).toEqual({ status: 'retry-later', reason: expect.stringMatching(/dead-letter/) });
  });

  // Chaos seed 33 (session 6): one batch's rows are written in groups, each retried on its own; a compaction
  // reading the profile between them saw a session's rows without the resume accepted before it, judged the
  // session begun while paused and kept only its id, for good.
  it("writes a batch's controls before its playback rows, and none of the playback rows while a control is not stored", async () => {
    const resume: ViewingEvent = {
      type: 'settings-changed',
      eventId: '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
      profileId: events[0].profileId,
      recording: 'on',
      occurredAt: T0 - 500,
      acceptedAt: T0 - 500,
    };
    const batch = batchOf([encodeViewingEvent(events[0]), encodeViewingEvent(resume), encodeViewingEvent(events[1])]);
    const { live, deadLetters, ingestor } = setup({ INGEST_RETRY_BUDGET_MS: '50' });
    live.controlsUnavailable = true;
    const first = await ingestor.handleBatch(batch, control);
    expect(first.status).toBe('retry-later');
    expect(deadLetters.letters).toEqual([]);
    expect(live.rows.size).toBe(0);
    expect(live.appended.flat()).not.toContain('play');
    live.controlsUnavailable = false;
    live.appended.length = 0;
    expect((await ingestor.handleBatch(batch, control)).status).toBe('done');
    expect(live.appended).toEqual([['settings-changed'], ['play', 'pause']]);
    expect(live.rows.size).toBe(3);
  });
});
