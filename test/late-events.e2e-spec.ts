import { randomUUID } from 'node:crypto';
import { loadConfig } from '@vh/config';
import { foldHistory, PlaybackEvent, ViewingEvent, visibleRecords } from '@vh/domain';
import { toView } from '../apps/api/src/history/history-request';
import { AppStack, StackMember } from './support/app-stack';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import { openStores } from './support/stores';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const DAY = 86_400_000;
const MINUTE = 60_000;
const OLD = Date.now() - 30 * DAY;

/** Deterministic shuffle (so a failure can be replayed). */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('late and repeated events: part of the history as if they had arrived in order (issue 11 §2, §3, §5)', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let collector: StackMember;
  let api: StackMember;
  let compactor: StackMember;
  let auth: TestTokens;

  const history = async (profileId: string) => {
    const { status, body } = await getJson(`${api.url}/v1/profiles/${profileId}/history?limit=200`, auth.recommender);
    if (status !== 200) throw new Error(`history answered ${status}: ${JSON.stringify(body)}`);
    return body.records;
  };

  async function runJob(profileId: string): Promise<any> {
    const started = await postJson(`${api.url}/v1/admin/compactions`, { profileId }, auth.operator);
    expect(started.status).toBe(202);
    return eventually(
      async () => {
        const { body: job } = await getJson(`${api.url}/v1/admin/compactions/${started.body.jobId}`, auth.operator);
        expect(job.state).toBe('completed');
        return job;
      },
      120_000,
      300,
    );
  }

  const lateEventsCounted = async () => {
    const scraped = await (await fetch(`${compactor.url}/metrics`)).text();
    const line = scraped.split('\n').find((l) => l.startsWith('viewing_history_late_events_total'));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };

  beforeAll(async () => {
    environment = await createTestEnvironment('late_events', {
      COMPACTION_LOCK_MS: '2000',
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
      COMPACTION_GRACE_MS: '1000',
      // One host, one clock: a short margin, so the range deletes run among the arrivals.
      COMPACTION_DELETE_MARGIN_MS: '3000',
    });
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1, compactor: 1 });
    [collector, api, compactor] = [stack.first('collector'), stack.first('api'), stack.first('compactor')];
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('folds events of old days, produced onto the log shuffled with re-stamped repeats while compactions run, exactly once', async () => {
    const events: ViewingEvent[] = syntheticHistory(2, 60, OLD);
    const profileIds = [...new Set(events.map((e) => e.profileId))];
    // A device that re-stamps its retries: same eventId, another occurredAt and position (§3).
    const restamped = (events as PlaybackEvent[])
      .filter((_, i) => i % 9 === 4)
      .map((e, i) => ({ ...e, occurredAt: e.occurredAt + ((i % 5) - 2 || 3) * MINUTE, positionMs: e.positionMs + 1 }));
    // Redelivered copies, as a replay or a retrying producer sends them.
    const copies = events.filter((_, i) => i % 7 === 3);
    const all = [...events, ...restamped, ...copies];
    // Produced by a client other than the collector: no acceptedAt, ingest takes the log's timestamp.
    const waves = shuffled(all, 11);
    const size = Math.ceil(waves.length / 5);
    const counterBefore = await lateEventsCounted();
    let late = 0;
    for (let w = 0; w < 5; w++) {
      await produceEvents(
        environment.kafka,
        environment.config.kafka.eventTopic,
        waves.slice(w * size, (w + 1) * size),
      );
      // Compactions run while ingest is still writing the wave.
      const jobs = await Promise.all(profileIds.map((profileId) => runJob(profileId)));
      for (const job of jobs) late += job.result.lateEvents ?? 0;
    }
    for (const profileId of profileIds) {
      const expected = visibleRecords(foldHistory(all.filter((e) => e.profileId === profileId))).map(toView);
      expect(expected.length).toBe(60);
      await eventually(async () => expect(await history(profileId)).toEqual(expected), 120_000, 500);
      // Once more after everything arrived: what is left in the live table is folded in, and counted once.
      const job = await runJob(profileId);
      late += job.result.lateEvents ?? 0;
      expect(await history(profileId)).toEqual(expected);
    }
    expect(late).toBeGreaterThan(0);
    expect((await lateEventsCounted()) - counterBefore).toBe(late);
  }, 600_000);

  it('folds a late event and a re-stamped retry into records settled long ago, rebuilt from the event log (ADR 6)', async () => {
    // Sessions accepted 100 days ago: past the trail retention (30 days), their first compaction settles them.
    const events = syntheticHistory(1, 4, Date.now() - 100 * DAY).map((e) => ({ ...e, acceptedAt: e.occurredAt }));
    const profileId = events[0].profileId;
    const sessions = [...new Set(events.map((e) => e.playbackSessionId))];
    const ofSession = (i: number) => events.filter((e) => e.playbackSessionId === sessions[i]);
    // Session 0's first play reaches the log only later (a device offline for months), accepted today.
    const heldBack = ofSession(0)[0];
    await produceEvents(
      environment.kafka,
      environment.config.kafka.eventTopic,
      events.filter((e) => e !== heldBack),
    );
    await eventually(async () => expect(await history(profileId)).toHaveLength(4), 60_000, 300);
    const settling = await runJob(profileId);
    expect(settling.result).toMatchObject({ status: 'compacted', recordsSettled: 4 });

    const now = Date.now();
    const late = { ...heldBack, acceptedAt: now };
    // A retry of one of session 1's events, re-stamped by the device: same eventId, other time and position.
    const retried = ofSession(1)[1];
    const restamped = {
      ...retried,
      occurredAt: retried.occurredAt + 2 * MINUTE,
      positionMs: retried.positionMs + 1,
      acceptedAt: now,
    };
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, [late, restamped]);
    const all = [...events, late, restamped];
    const expected = visibleRecords(foldHistory(all)).map(toView);
    expect(expected.find((r) => r.recordId === sessions[0])!.startedAt).toBe(
      new Date(heldBack.occurredAt).toISOString(),
    );
    // The reads ask for the compaction that rebuilds the two settled records; one run by hand does as well.
    await eventually(
      async () => {
        await runJob(profileId);
        expect(await history(profileId)).toEqual(expected);
      },
      120_000,
      1_000,
    );
    // Once more: nothing left to rebuild, the history stays.
    const again = await runJob(profileId);
    expect(again.result.settledRecordsRebuilt).toBe(0);
    expect(await history(profileId)).toEqual(expected);
  }, 300_000);

  it('reads and rebuilds a version an older compactor wrote (settled digests in trail chunks, v2), a late event folded once', async () => {
    // A mixed deployment (ADR 6, amendment of 2026-11-27): the settling compaction runs as a compactor of the
    // build before wrote it; this API reads it, this compactor folds a late event into it.
    const events = syntheticHistory(1, 4, Date.now() - 100 * DAY).map((e) => ({ ...e, acceptedAt: e.occurredAt }));
    const profileId = events[0].profileId;
    // A session's stop reaches the log only later: the record was settled as paused or playing.
    const heldBack = events.find((e) => e.type === 'stop')!;
    await produceEvents(
      environment.kafka,
      environment.config.kafka.eventTopic,
      events.filter((e) => e !== heldBack),
    );
    await eventually(async () => expect(await history(profileId)).toHaveLength(4), 60_000, 300);
    const stores = openStores(
      loadConfig({ ...process.env, ...environment.env, COMPACTION_RECORD_ENCODING: 'vh-columnar-v2' }),
    );
    try {
      const settling = await stores.compactor().compact(profileId);
      expect(settling).toMatchObject({ status: 'compacted', recordsSettled: 4 });
      expect((await stores.compressed.readVersion(profileId))!.recordEncoding).toBe('vh-columnar-v2');
      const before = visibleRecords(foldHistory(events.filter((e) => e !== heldBack))).map(toView);
      expect(await history(profileId)).toEqual(before);

      await produceEvents(environment.kafka, environment.config.kafka.eventTopic, [
        { ...heldBack, acceptedAt: Date.now() },
      ]);
      const expected = visibleRecords(foldHistory(events)).map(toView);
      expect(expected).not.toEqual(before);
      await eventually(
        async () => {
          const job = await runJob(profileId);
          expect(job.result.status).toBe('compacted');
          expect(await history(profileId)).toEqual(expected);
        },
        120_000,
        1_000,
      );
      expect((await stores.compressed.readVersion(profileId))!.recordEncoding).toBe('vh-columnar-v3');
      const again = await runJob(profileId);
      expect(again.result.settledRecordsRebuilt).toBe(0);
      expect(await history(profileId)).toEqual(expected);
    } finally {
      await stores.close();
    }
  }, 300_000);

  it('judges a clear by when the service accepted each session, with device clocks 4 minutes off either way (§5)', async () => {
    const profileId = uniqueProfileId('clear');
    const device = await auth.device(profileId);
    // A device 4 minutes ahead: its session "starts" after the clear on its clock, but was accepted before.
    const ahead = watchSession(profileId, 'title-ahead', Date.now() + 4 * MINUTE).slice(0, 1);
    const postedFrom = Date.now();
    expect((await postJson(`${collector.url}/v1/events`, { events: ahead }, device)).status).toBe(202);
    const postedUntil = Date.now();
    await eventually(async () => expect(await history(profileId)).toHaveLength(1));
    // The collector stamped its own receive time; the device's time is kept for ordering and display.
    const row = (
      await environment.cassandra.execute(
        `SELECT occurred_at, acceptances FROM ${environment.config.cassandra.keyspace}.live_history WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).first();
    expect((row.get('occurred_at') as Date).toISOString()).toBe(ahead[0].occurredAt);
    const [acceptedAt] = (row.get('acceptances') as Date[]).map((d) => d.getTime());
    expect(acceptedAt).toBeGreaterThanOrEqual(postedFrom);
    expect(acceptedAt).toBeLessThanOrEqual(postedUntil);

    const cleared = await fetch(`${api.url}/v1/profiles/${profileId}/history`, { method: 'DELETE', headers: device });
    expect(cleared.status).toBe(202);
    await eventually(async () => expect(await history(profileId)).toEqual([]));

    // A device 4 minutes behind: its session "starts" before the clear on its clock, but was accepted after.
    const behind = watchSession(profileId, 'title-behind', Date.now() - 4 * MINUTE).slice(0, 1);
    expect((await postJson(`${collector.url}/v1/events`, { events: behind }, device)).status).toBe(202);
    await eventually(async () =>
      expect((await history(profileId)).map((r: { recordId: string }) => r.recordId)).toEqual([
        behind[0].playbackSessionId,
      ]),
    );
    // Later events of the cleared session stay hidden.
    const more = {
      ...ahead[0],
      eventId: randomUUID(),
      type: 'pause',
      positionMs: 30_000,
      occurredAt: new Date(Date.now() + 4.5 * MINUTE).toISOString(),
    };
    expect((await postJson(`${collector.url}/v1/events`, { events: [more] }, device)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await history(profileId)).map((r: { recordId: string }) => r.recordId)).toEqual([
      behind[0].playbackSessionId,
    ]);
  }, 120_000);
});
