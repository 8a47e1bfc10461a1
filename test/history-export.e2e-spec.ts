import { randomUUID } from 'node:crypto';
import { ViewingEvent } from '@vh/domain';
import { AppStack, StackMember } from './support/app-stack';
import { produceEvents, syntheticHistory } from './support/event-log';
import { eventually } from './support/eventually';
import {
  byRecordId,
  countRows,
  expectedExport,
  exportedRecords,
  ExportLine,
  readExport,
} from './support/history-export';
import { openStores, Stores } from './support/stores';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Issue 12 §1: the export is complete (live, compressed or both), verifiable by its end line, and resumable. */
describe('history export: complete, verifiable, resumable', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let api: StackMember;
  let auth: TestTokens;
  let stores: Stores;
  const now = Date.now();
  let events: ViewingEvent[] = [];
  const profilesOf = (list: ViewingEvent[]) => [...new Set(list.map((e) => e.profileId))];

  beforeAll(async () => {
    environment = await createTestEnvironment('export', {
      // Short ages, so that history of a few days ago is compactable and still inside the activity walk.
      EVENT_MAX_AGE_MS: String(HOUR),
      COMPACTION_MIN_AGE_MS: String(2 * HOUR),
      HISTORY_EXPORT_INDEX_MAX_DAYS: '10',
      HISTORY_EXPORT_TOKEN_RANGES: '7',
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
      // Every row is written before compaction starts (the set-up waits for it): the range delete need not
      // spare recent writes, as in compaction.e2e-spec.ts (the 10-minute default kept every row live here).
      COMPACTION_DELETE_MARGIN_MS: '0',
    });
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { ingest: 1, api: 1 });
    api = stack.first('api');
    stores = openStores(environment.config, 'e2e-compactor');

    const compactedOnly = syntheticHistory(6, 8, now - 3 * DAY);
    const both = syntheticHistory(3, 5, now - 3 * DAY);
    const recentOfBoth = profilesOf(both).flatMap((profileId) =>
      syntheticHistory(1, 1, now - 30 * 60_000).map((e) => ({ ...e, profileId })),
    );
    const liveOnly = syntheticHistory(2, 1, now - 50 * 60_000);
    const longAgo = syntheticHistory(2, 4, now - 40 * DAY);
    const victim = compactedOnly[0];
    const removal: ViewingEvent = {
      type: 'record-removed',
      eventId: randomUUID(),
      profileId: victim.profileId,
      recordId: victim.playbackSessionId,
      occurredAt: now - 2 * DAY,
    };
    events = [...compactedOnly, ...both, ...recentOfBoth, ...liveOnly, ...longAgo, removal];
    await produceEvents(environment.kafka, environment.config.kafka.eventTopic, events);
    for (const profileId of profilesOf(events)) {
      const expected = events.filter((e) => e.profileId === profileId).length;
      await eventually(
        async () =>
          expect(await countRows(environment.cassandra, keyspace(), 'live_history', profileId)).toBe(expected),
        120_000,
        500,
      );
    }
    // Every profile compacted: the old ones are then in compressed history only.
    for (const profileId of profilesOf(events)) await stores.compactor().compact(profileId);
    for (const profileId of profilesOf([...compactedOnly, ...longAgo])) {
      expect(await countRows(environment.cassandra, keyspace(), 'live_history', profileId)).toBe(0);
    }
  });

  afterAll(async () => {
    await stack?.stop();
    await stores?.close();
    await environment?.dispose();
  });

  const keyspace = () => environment.config.cassandra.keyspace;
  const sinceQuery = (since: number) => `since=${new Date(since).toISOString()}`;

  function expectComplete(lines: ExportLine[], since: number, walk: string) {
    const expected = expectedExport(events, since);
    const total = [...expected.values()].reduce((n, r) => n + r.length, 0);
    expect(lines.at(-1)).toMatchObject({
      type: 'end',
      walk,
      since: new Date(since).toISOString(),
      profiles: expected.size,
      records: total,
      failures: 0,
    });
    expect(Date.parse(lines.at(-1)!.completeUpTo)).toBeGreaterThan(now);
    const exported = exportedRecords(lines);
    expect([...exported.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [profileId, records] of expected) expect(exported.get(profileId)).toEqual(byRecordId(records));
    expect(lines.filter((l) => l.type === 'record')).toHaveLength(total);
  }

  it.each([
    ['activity-index', 4 * DAY],
    ['activity-index', 3 * DAY - 2 * HOUR],
    ['token-ranges', 45 * DAY],
  ])('includes every profile after compaction of every profile (%s walk, since %d ms ago)', async (walk, ago) => {
    const since = now - ago;
    const { status, lines } = await readExport(api.url, sinceQuery(since), auth.recommender);
    expect(status).toBe(200);
    expectComplete(lines, since, walk);
  });

  it.each([
    ['activity-index', 4 * DAY],
    ['token-ranges', 45 * DAY],
  ])('resumes after a dropped connection without duplicates (%s walk)', async (_walk, ago) => {
    const since = now - ago;
    const full = await readExport(api.url, sinceQuery(since), auth.recommender);
    const recordLines = full.lines.length - 1;
    for (const dropAfter of [1, 5, Math.floor(recordLines / 2), recordLines - 1, recordLines]) {
      const firstStarted = Date.now();
      const first = await readExport(api.url, sinceQuery(since), auth.recommender, dropAfter);
      expect(first.lines).toHaveLength(dropAfter);
      const position = first.lines.at(-1)!.position;
      expect(typeof position).toBe('string');
      const restStarted = Date.now();
      const rest = await readExport(api.url, `${sinceQuery(since)}&after=${position}`, auth.recommender);
      expect(rest.status).toBe(200);
      const union = [...first.lines, ...rest.lines];
      const keys = union.filter((l) => l.type === 'record').map((l) => `${l.profileId}/${l.recordId}`);
      expect(new Set(keys).size).toBe(keys.length); // no duplicates
      // The union is the full export, and the resumed closing line counts the whole export...
      expectComplete(union, since, full.lines.at(-1)!.walk);
      // ...and is complete up to the instant the first connection started, not the second.
      const completeUpTo = Date.parse(rest.lines.at(-1)!.completeUpTo);
      expect(completeUpTo).toBeGreaterThanOrEqual(firstStarted - 1_000);
      expect(completeUpTo).toBeLessThan(restStarted);
    }
  });

  it('refuses a position token it did not write, or one of another since, with 400 naming `after`', async () => {
    const since = now - 4 * DAY;
    const full = await readExport(api.url, sinceQuery(since), auth.recommender);
    const position = full.lines[0].position as string;
    for (const query of [`${sinceQuery(since)}&after=garbage`, `${sinceQuery(since - DAY)}&after=${position}`]) {
      const { status, lines } = await readExport(api.url, query, auth.recommender);
      expect([query, status]).toEqual([query, 400]);
      expect(lines[0].issues.map((i: { field: string }) => i.field)).toContain('after');
    }
  });
});
