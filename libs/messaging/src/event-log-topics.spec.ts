import { minInsyncReplicas } from './event-log-topics';

describe('minInsyncReplicas', () => {
  it('is a majority from three replicas up, so an acknowledged event survives a broker and one down stops nothing', () => {
    expect([3, 4, 5, 7].map(minInsyncReplicas)).toEqual([2, 3, 3, 4]);
  });

  it('is 1 below three replicas, where more would stop every write while one broker is down', () => {
    expect([1, 2].map(minInsyncReplicas)).toEqual([1, 1]);
  });
});
