import { playbackEvent } from '@vh/domain/testing/viewing-event.fixtures';
import { OpenedMessage } from './event-log-envelope';
import { collectProfileMessages } from './profile-event-log.reader';

describe('collectProfileMessages', () => {
  const event = (profileId: string, at: number): OpenedMessage => ({
    kind: 'event',
    event: playbackEvent('play', at, 0, { profileId }),
  });
  const mark = (profileId: string): OpenedMessage => ({ kind: 'profile-erased', profileId, erasureId: 'e1' });

  it('drops the events before the profile erasure mark, across batches, and keeps those after it', () => {
    const log = { undecodable: 0, erased: 0, events: [] as ReturnType<typeof playbackEvent>[] };
    collectProfileMessages(log, 'p1', [event('p1', 1), event('p1', 2)]);
    collectProfileMessages(log, 'p1', [event('p1', 3), mark('p1'), event('p1', 4)]);
    expect(log.events.map((e) => e.occurredAt)).toEqual([4]);
  });

  it('ignores another profile mark and counts invalid and erased messages', () => {
    const log = { undecodable: 0, erased: 0, events: [] as ReturnType<typeof playbackEvent>[] };
    collectProfileMessages(log, 'p1', [
      event('p1', 1),
      mark('p2'),
      event('p2', 2),
      { kind: 'invalid', reason: 'x' },
      { kind: 'erased', profileId: 'p1' },
    ]);
    expect(log.events.map((e) => e.occurredAt)).toEqual([1]);
    expect([log.undecodable, log.erased]).toEqual([1, 1]);
  });
});
