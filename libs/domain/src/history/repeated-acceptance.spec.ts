import { PlaybackEvent, ViewingEvent } from '../events/viewing-event';
import { EMPTY_COMPRESSED_HISTORY } from './compressed-history';
import { compactHistory } from './history-compaction';
import { foldHistory, variantThatCounts, visibleRecords } from './history-fold';

const T = Date.parse('2026-01-01T12:00:00Z');
const MIN = 60_000;

const play: PlaybackEvent = {
  type: 'play',
  eventId: '00000000-0000-4000-8000-000000000001',
  profileId: 'p',
  playbackSessionId: '00000000-0000-4000-8000-0000000000a1',
  titleId: 't',
  deviceId: 'tv',
  positionMs: 0,
  occurredAt: T,
  acceptedAt: T,
};
const clearAt = (acceptedAt: number): ViewingEvent => ({
  type: 'history-cleared',
  eventId: '00000000-0000-4000-8000-0000000000c1',
  profileId: 'p',
  occurredAt: acceptedAt,
  acceptedAt,
});
const visible = (events: ViewingEvent[]) => visibleRecords(foldHistory(events)).map((r) => r.recordId);

/** Invariant 1: a repeated event counts once, from the earliest acceptance of any of its copies. */
describe('an event accepted more than once', () => {
  it('is judged by its first acceptance, whatever the order of the copies and across a compaction', () => {
    const again = { ...play, acceptedAt: T + 20 * MIN };
    const clear = clearAt(T + 10 * MIN);
    expect(visible([play, clear, again])).toEqual([]);
    expect(visible([again, clear, play])).toEqual([]);
    // The copy the live row keeps folds as both copies do.
    expect(variantThatCounts(again, play)).toEqual(play);
    expect(variantThatCounts(play, again)).toEqual(play);
    // The first copy compacted, the second live (a device re-posting after the compaction).
    const compressed = compactHistory(EMPTY_COMPRESSED_HISTORY, [play, clear], T + 15 * MIN);
    expect(visibleRecords(foldHistory([again], compressed))).toEqual([]);
  });

  it('keeps the content the fold keeps at the earliest acceptance of the copies at one row key', () => {
    const other = { ...play, positionMs: 5_000, acceptedAt: T - MIN };
    const kept = variantThatCounts(play, other);
    expect(kept).toEqual({ ...play, acceptedAt: T - MIN });
    expect(foldHistory([play, other]).records.get(play.playbackSessionId)?.firstAcceptedAt).toBe(T - MIN);
  });

  it('counts a clear from its first acceptance: a copy accepted later does not hide later sessions', () => {
    const session = { ...play, acceptedAt: T + 5 * MIN };
    const first = clearAt(T);
    const copy = { ...first, acceptedAt: T + 10 * MIN };
    expect(visible([first, session, copy])).toEqual([play.playbackSessionId]);
    expect(visible([copy, session, first])).toEqual([play.playbackSessionId]);
    expect(variantThatCounts(copy, first)).toEqual(first);
  });

  it('counts a title removal from its first acceptance: a copy accepted later does not hide later sessions', () => {
    const session = { ...play, acceptedAt: T + 5 * MIN };
    const first: ViewingEvent = {
      type: 'title-removed',
      eventId: '00000000-0000-4000-8000-0000000000d1',
      profileId: 'p',
      titleId: play.titleId,
      occurredAt: T,
      acceptedAt: T,
    };
    const copy = { ...first, acceptedAt: T + 10 * MIN };
    // As the live row stores it (one row, the earliest acceptance) and as every copy folds: the same.
    expect(visible([first, session, copy])).toEqual([play.playbackSessionId]);
    expect(visible([copy, session, first])).toEqual([play.playbackSessionId]);
    expect(visible([variantThatCounts(copy, first), session])).toEqual([play.playbackSessionId]);
  });
});
