import { Logger } from '@nestjs/common';
import { WriteDatesAfterErasures } from './write-dates-after-erasures';

describe('WriteDatesAfterErasures', () => {
  const logger = { warn: jest.fn() } as unknown as Logger;
  const aheadUs = () => (Date.now() + 60_000) * 1000;

  it('dates each write one past the last while ahead of the clock, and forgets a date the clock passed', () => {
    const dates = new WriteDatesAfterErasures(async () => new Map(), 600_000, logger);
    expect(dates.ahead()).toBeUndefined();
    const tombstoneUs = aheadUs();
    dates.erased('p1', tombstoneUs);
    dates.erased('p2', (Date.now() - 1_000) * 1000);
    expect(dates.ahead()).toEqual(new Map([['p1', tombstoneUs]]));
    dates.wrote(['p1', 'p2', 'p3']);
    dates.wrote(['p1']);
    expect(dates.ahead()).toEqual(new Map([['p1', tombstoneUs + 2]]));
    // A lower tombstone never lowers the date.
    dates.erased('p1', tombstoneUs - 5);
    expect(dates.ahead()?.get('p1')).toBe(tombstoneUs + 2);
  });

  it('reads the record once per assignment, shared, starting a second past it; read again after a failure', async () => {
    const tombstoneUs = aheadUs();
    let reads = 0;
    let fail = true;
    const dates = new WriteDatesAfterErasures(
      async () => {
        reads++;
        if (fail) throw new Error('no host available');
        return new Map([['p1', tombstoneUs]]);
      },
      600_000,
      logger,
    );
    await expect(Promise.all([dates.readRecord(), dates.readRecord()])).rejects.toThrow('no host');
    expect(reads).toBe(1);
    fail = false;
    await Promise.all([dates.readRecord(), dates.readRecord()]);
    await dates.readRecord();
    expect(reads).toBe(2);
    expect(dates.ahead()).toEqual(new Map([['p1', tombstoneUs + 1_000_000]]));
    dates.reassigned();
    await dates.readRecord();
    expect(reads).toBe(3);
    // A minute ahead, within the margin (10 min): nothing to say.
    expect(logger.warn).not.toHaveBeenCalled();
  });

  // Review, session 12: the erasing host records its own clock, so its own check finds no skew when that clock is
  // the one ahead; the hosts reading the record are the ones that can tell.
  it('logs once per assignment, as a summary, the recorded tombstones further ahead than the delete margin', async () => {
    const warn = jest.fn();
    const record = new Map([
      ['p1', aheadUs()],
      ['p2', aheadUs()],
      ['p3', (Date.now() + 1_000) * 1000],
    ]);
    const dates = new WriteDatesAfterErasures(async () => record, 10_000, { warn } as unknown as Logger);
    await dates.readRecord();
    await dates.readRecord();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/^2 profile\(s\) erased with a tombstone up to 60 s ahead/),
    );
  });

  it('logs a tombstone further ahead than the delete margin (an ingest host whose clock runs ahead)', () => {
    const warn = jest.fn();
    const dates = new WriteDatesAfterErasures(async () => new Map(), 10_000, { warn } as unknown as Logger);
    dates.erased('p1', (Date.now() + 5_000) * 1000);
    expect(warn).not.toHaveBeenCalled();
    dates.erased('p1', aheadUs());
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('ahead'));
  });
});
