import { BullBoardInstance } from '@bull-board/nestjs';
import { loadConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { CompactionRequests } from './compaction-requests';

const DAY = 86_400_000;

function events(count: number, from: number): ViewingEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'history-cleared',
    eventId: `e-${i}`,
    profileId: 'p',
    occurredAt: from + i,
  }));
}

describe('CompactionRequests: the read-path trigger', () => {
  it('asks at most once for a large profile read again and again', async () => {
    const requests = new CompactionRequests(
      loadConfig({ COMPACTION_LIVE_EVENTS_TRIGGER: '100' }),
      {} as BullBoardInstance,
    );
    const asked = jest.spyOn(requests, 'compactProfile').mockResolvedValue('job');
    const live = events(3000, Date.now() - 30 * DAY);
    for (let i = 0; i < 5; i++) requests.requestIfLarge('p', live, null);
    expect(asked.mock.calls).toEqual([['p', false, 'read-path', 0]]);
  });
});
