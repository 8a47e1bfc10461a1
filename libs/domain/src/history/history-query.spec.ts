import { playbackEvent } from '../testing/viewing-event.fixtures';
import { foldHistory, visibleRecords } from './history-fold';
import { continueWatching, decodeCursor, encodeCursor, pageOfHistory } from './history-query';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const session = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function records(count: number) {
  const events = Array.from({ length: count }, (_, i) =>
    playbackEvent('play', T0 + i * HOUR, 0, { playbackSessionId: session(i), titleId: `title-${i % 3}` }),
  );
  return visibleRecords(foldHistory(events));
}

describe('pageOfHistory', () => {
  it('walks every record once, in order, for every page size', () => {
    const all = records(10);
    for (let limit = 1; limit <= 11; limit++) {
      const walked = [];
      let cursor;
      do {
        const page = pageOfHistory(all, { limit, cursor });
        walked.push(...page.records);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(walked).toEqual(all);
    }
  });

  it('returns no cursor on the last page', () => {
    expect(pageOfHistory(records(3), { limit: 3 }).nextCursor).toBeNull();
  });

  it('filters by title and by a half-open time window', () => {
    const page = pageOfHistory(records(10), { limit: 100, titleId: 'title-1', from: T0 + HOUR, to: T0 + 7 * HOUR });
    expect(page.records.map((r) => r.recordId)).toEqual([session(4), session(1)]);
  });
});

describe('cursors', () => {
  it('round-trip', () => {
    const cursor = { startedAt: T0, recordId: session(7) };
    expect(decodeCursor(encodeCursor(cursor))).toEqual({ ok: true, value: cursor });
  });

  it.each([
    '',
    'not base64!',
    Buffer.from('[1,"x","y"]').toString('base64url'),
    Buffer.from('{"a":1}').toString('base64url'),
    'A'.repeat(300),
  ])('reject %p as a field error on cursor', (token) => {
    expect(decodeCursor(token)).toEqual({ ok: false, issues: [{ field: 'cursor', message: expect.any(String) }] });
  });
});

describe('continueWatching', () => {
  it('keeps the latest unfinished record per title, most recent first', () => {
    const events = [
      playbackEvent('pause', T0, 10_000, { playbackSessionId: session(1), titleId: 'a', titleDurationMs: 100_000 }),
      playbackEvent('pause', T0 + HOUR, 20_000, {
        playbackSessionId: session(2),
        titleId: 'a',
        titleDurationMs: 100_000,
      }),
      playbackEvent('stop', T0 + 2 * HOUR, 99_000, {
        playbackSessionId: session(3),
        titleId: 'b',
        titleDurationMs: 100_000,
      }),
      playbackEvent('pause', T0 + 3 * HOUR, 5_000, { playbackSessionId: session(4), titleId: 'c' }),
    ];
    const result = continueWatching(visibleRecords(foldHistory(events)), 10);
    expect(result.map((r) => [r.titleId, r.positionMs])).toEqual([
      ['c', 5_000],
      ['a', 20_000],
    ]);
  });
});
