import { DependencyUnavailableError } from '@vh/domain';
import { BreakerState, CircuitBreaker } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let now = 0;
  const states: BreakerState[] = [];
  const breaker = () =>
    new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, now: () => now, onStateChange: (s) => states.push(s) });
  const down = () => Promise.reject(new DependencyUnavailableError('cassandra', 'down'));
  const up = () => Promise.resolve('ok');

  beforeEach(() => {
    now = 0;
    states.length = 0;
  });

  it('opens after the threshold of consecutive transient failures and then fails fast', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i++) await expect(b.execute(down)).rejects.toThrow('down');
    expect(b.current).toBe('open');
    const calls = jest.fn(up);
    await expect(b.execute(calls)).rejects.toThrow(/circuit open/);
    expect(calls).not.toHaveBeenCalled();
  });

  it('lets one probe through after the open period, and closes on its success', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i++) await expect(b.execute(down)).rejects.toThrow();
    now = 1_000;
    let release!: () => void;
    const probe = b.execute(() => new Promise<string>((resolve) => (release = () => resolve('ok'))));
    await expect(b.execute(up)).rejects.toThrow(/circuit open/); // only one probe at a time
    release();
    await expect(probe).resolves.toBe('ok');
    expect(b.current).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('re-opens when the probe fails', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i++) await expect(b.execute(down)).rejects.toThrow();
    now = 1_500;
    await expect(b.execute(down)).rejects.toThrow('down');
    expect(b.current).toBe('open');
    now = 2_000;
    await expect(b.execute(up)).rejects.toThrow(/circuit open/);
  });

  it("does not count errors that are not the cluster's fault, and a success resets the count", async () => {
    const b = breaker();
    await expect(b.execute(() => Promise.reject(new Error('bug')))).rejects.toThrow('bug');
    await expect(b.execute(down)).rejects.toThrow();
    await expect(b.execute(down)).rejects.toThrow();
    await b.execute(up);
    await expect(b.execute(down)).rejects.toThrow();
    await expect(b.execute(down)).rejects.toThrow();
    expect(b.current).toBe('closed');
  });

  it('tells the caller when to retry', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i++) await expect(b.execute(down)).rejects.toThrow();
    now = 200;
    await expect(b.execute(up)).rejects.toMatchObject({ retryAfterSeconds: 1 });
  });

  it('lets only the probe decide in half-open: a call begun before the circuit opened does not re-open it', async () => {
    const b = breaker();
    let failSlow!: () => void;
    // A read begun while closed, stuck until the driver's timeout (longer than the open interval).
    const slow = b.execute(
      () =>
        new Promise<string>(
          (_, reject) => (failSlow = () => reject(new DependencyUnavailableError('cassandra', 'timeout'))),
        ),
    );
    for (let i = 0; i < 3; i++) await expect(b.execute(down)).rejects.toThrow();
    now = 1_000;
    let release!: () => void;
    const probe = b.execute(() => new Promise<string>((resolve) => (release = () => resolve('ok'))));
    failSlow();
    await expect(slow).rejects.toThrow('timeout');
    expect(b.current).toBe('half-open');
    await expect(b.execute(up)).rejects.toThrow(/circuit open/); // still one probe at a time
    release();
    await expect(probe).resolves.toBe('ok');
    expect(b.current).toBe('closed');
  });
});
