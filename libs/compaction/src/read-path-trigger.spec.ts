import { loadConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { MAX_ROW_DELETES } from './live-row-deletes';
import { ReadPathCompactionTrigger } from './read-path-trigger';

const DAY = 86_400_000;
const MIN = 60_000;

function live(count: number, oldestAt: number): ViewingEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'history-cleared',
    eventId: `e-${i}`,
    profileId: 'p',
    occurredAt: oldestAt + i,
  }));
}

describe('ReadPathCompactionTrigger', () => {
  const config = loadConfig({
    COMPACTION_LIVE_EVENTS_TRIGGER: '100',
    COMPACTION_MIN_AGE_MS: String(14 * DAY),
    COMPACTION_READ_TRIGGER_WINDOW_MS: String(15 * MIN),
  }).compaction;
  let clock: number;
  let asked: string[];
  let trigger: ReadPathCompactionTrigger;
  beforeEach(() => {
    clock = Date.parse('2026-11-26T12:00:00Z');
    asked = [];
    trigger = new ReadPathCompactionTrigger(
      config,
      async (profileId) => asked.push(profileId),
      undefined,
      () => clock,
    );
  });
  const read = (profileId: string, events: ViewingEvent[], compactedBefore: number | null = null) =>
    trigger.onRead(profileId, events, compactedBefore, clock);

  it('never asks for a small live partition', () => {
    expect(read('p', live(100, clock - 30 * DAY))).toBe(false);
    expect(asked).toEqual([]);
  });

  it('does not ask while no live event is old enough to roll up, then asks once one is', () => {
    const events = live(3000, clock - 13 * DAY); // large, but all younger than the compaction age
    for (let i = 0; i < 50; i++) read('p', events);
    expect(asked).toEqual([]);
    clock += DAY + 1; // the oldest event is now old enough
    for (let i = 0; i < 50; i++) read('p', events);
    expect(asked).toEqual(['p']);
  });

  it('asks when more than MAX_ROW_DELETES live events are older than the version, however small the partition', () => {
    // Rows a compaction left (their removal lost) or late events: either way a compaction has work.
    const large = loadConfig({ COMPACTION_LIVE_EVENTS_TRIGGER: '2000', COMPACTION_MIN_AGE_MS: String(14 * DAY) });
    const delays: number[] = [];
    trigger = new ReadPathCompactionTrigger(large.compaction, async (profileId, delayMs) => {
      asked.push(profileId);
      delays.push(delayMs);
    });
    const compactedBefore = clock - 20 * DAY;
    const events = live(MAX_ROW_DELETES, clock - 40 * DAY);
    expect(read('p', events, compactedBefore)).toBe(false);
    expect(read('p', [...events, ...live(5, clock - 21 * DAY)], null)).toBe(false);
    expect(read('p', [...events, ...live(1, clock - 21 * DAY)], compactedBefore)).toBe(true);
    expect(asked).toEqual(['p']);
    // After the removal a compaction that left them enqueued is due: a run before it would leave them again.
    expect(delays).toEqual([2 * large.compaction.deleteMarginMs]);
    // However many are left: only events a compaction would roll up make a partition large (asked at once).
    expect(read('q', live(3000, clock - 40 * DAY), compactedBefore)).toBe(true);
    expect(read('r', [...live(3000, clock - 40 * DAY), ...live(2001, clock - 19 * DAY)], compactedBefore)).toBe(true);
    expect(delays).toEqual([2 * large.compaction.deleteMarginMs, 2 * large.compaction.deleteMarginMs, 0]);
  });

  it('asks at most once per profile per window, even when the job changes nothing (it failed)', () => {
    const events = live(3000, clock - 30 * DAY);
    for (let i = 0; i < 50; i++) read('p', events);
    read('q', events);
    expect(asked).toEqual(['p', 'q']);
    clock += 15 * MIN - 1;
    read('p', events);
    expect(asked).toEqual(['p', 'q']);
    clock += 2;
    read('p', events);
    expect(asked).toEqual(['p', 'q', 'p']);
  });

  it('swallows a failed request (best effort), reporting it', async () => {
    const errors: string[] = [];
    const failing = new ReadPathCompactionTrigger(
      config,
      () => Promise.reject(new Error('redis down')),
      (profileId, error) => errors.push(`${profileId}: ${error.message}`),
      () => clock,
    );
    expect(failing.onRead('p', live(3000, clock - 30 * DAY), null, clock)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual(['p: redis down']);
  });
});
