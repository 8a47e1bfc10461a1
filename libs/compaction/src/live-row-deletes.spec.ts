import { LiveRowWrite } from '@vh/storage';
import { MAX_ROW_DELETES, planLiveRowDeletes } from './live-row-deletes';

const MARGIN_MS = 10 * 60_000;
const INSTANT = 1_000_000;
const NEWEST_US = 5_000_000_000_000;

/** `count` rows before INSTANT written 1 ms apart, the last at NEWEST_US. */
const rows = (count: number, newestUs = NEWEST_US): LiveRowWrite[] =>
  Array.from({ length: count }, (_, i) => ({
    occurredAt: INSTANT - 1 - i,
    eventId: `e${i}`,
    writeTimeUs: newestUs - i * 1000,
  }));
const read = (rowsRead: LiveRowWrite[]) => ({
  rowsRead,
  newestWriteTimeUs: rowsRead.length === 0 ? null : Math.max(...rowsRead.map((r) => r.writeTimeUs)),
});

describe('planLiveRowDeletes', () => {
  it('deletes nothing when nothing was read', () => {
    expect(planLiveRowDeletes(read([]), INSTANT, MARGIN_MS)).toEqual({
      tombstoneUs: null,
      byKey: [],
      left: 0,
      leftThroughUs: null,
    });
  });

  it('dates the tombstone a margin before the newest write and deletes the few rows it spares by key', () => {
    const older = { occurredAt: 5, eventId: 'old', writeTimeUs: NEWEST_US - MARGIN_MS * 1000 - 1 };
    const after = { occurredAt: INSTANT, eventId: 'stays', writeTimeUs: NEWEST_US };
    const spared = rows(MAX_ROW_DELETES);
    const plan = planLiveRowDeletes(read([older, ...spared, after]), INSTANT, MARGIN_MS);
    expect(plan).toEqual({ tombstoneUs: NEWEST_US - MARGIN_MS * 1000, byKey: spared, left: 0, leftThroughUs: null });
  });

  it('leaves the spared rows when they are more than MAX_ROW_DELETES, with their newest write time for the follow-up', () => {
    const spared = rows(MAX_ROW_DELETES + 1);
    const late = { occurredAt: INSTANT + 1, eventId: 'after', writeTimeUs: NEWEST_US + 5 };
    expect(planLiveRowDeletes(read([...spared, late]), INSTANT, MARGIN_MS)).toEqual({
      tombstoneUs: NEWEST_US + 5 - MARGIN_MS * 1000,
      byKey: [],
      left: MAX_ROW_DELETES + 1,
      leftThroughUs: NEWEST_US,
    });
  });

  it('a follow-up dates its tombstone at the rows left, or a margin before its newest write if that is later', () => {
    const left = rows(500);
    expect(planLiveRowDeletes(read(left), INSTANT, MARGIN_MS, NEWEST_US)).toEqual({
      tombstoneUs: NEWEST_US,
      byKey: [],
      left: 0,
      leftThroughUs: null,
    });
    // Written since, far later: the margin before it is later than the rows left.
    const since = { occurredAt: INSTANT - 1, eventId: 'since', writeTimeUs: NEWEST_US + 2 * MARGIN_MS * 1000 };
    const plan = planLiveRowDeletes(read([...left, since]), INSTANT, MARGIN_MS, NEWEST_US);
    expect(plan).toMatchObject({ tombstoneUs: NEWEST_US + MARGIN_MS * 1000, byKey: [since], left: 0 });
  });
});
