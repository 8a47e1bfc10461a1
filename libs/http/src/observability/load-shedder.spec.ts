import { EventLoopDelayMonitor, EventLoopDelaySource, LoadShedder } from './load-shedder';

class FixedDelay implements EventLoopDelaySource {
  delayMs = 0;
  stopped = false;
  currentDelayMs(): number {
    return this.delayMs;
  }
  stop(): void {
    this.stopped = true;
  }
}

const fixed = (max: number) => ({ mode: 'fixed' as const, max });

describe('LoadShedder', () => {
  it('admits up to the in-flight bound, refuses above it, and admits again once one is released', () => {
    const shedder = new LoadShedder(fixed(2), 100, new FixedDelay());
    expect(shedder.admit()).toBeNull();
    expect(shedder.admit()).toBeNull();
    expect(shedder.admit()).toBe('in_flight');
    expect(shedder.requestsInFlight).toBe(2);
    shedder.release(1);
    expect(shedder.admit()).toBeNull();
  });

  it('refuses a share of requests growing with how far the event loop is behind the bound, all of them at twice it', () => {
    const delay = new FixedDelay();
    let draw = 0;
    const shedder = new LoadShedder(fixed(1_000), 100, delay, () => draw);
    const admitted = (delayMs: number, random: number) => {
      delay.delayMs = delayMs;
      draw = random;
      const refused = shedder.admit();
      if (refused === null) shedder.release(1);
      return refused;
    };
    expect(admitted(100, 0)).toBeNull(); // at the bound: nothing refused
    expect(admitted(150, 0.49)).toBe('event_loop_delay'); // half over: half refused
    expect(admitted(150, 0.51)).toBeNull();
    expect(admitted(200, 0.999)).toBe('event_loop_delay'); // twice the bound: all refused
    expect(admitted(5, 0)).toBeNull();
  });

  it('does not count a refusal in flight', () => {
    const delay = new FixedDelay();
    const shedder = new LoadShedder(fixed(10), 100, delay, () => 0);
    expect(shedder.admit()).toBeNull();
    delay.delayMs = 500;
    expect(shedder.admit()).toBe('event_loop_delay');
    expect(shedder.requestsInFlight).toBe(1);
  });

  it('ignores the event loop when its bound is 0', () => {
    const delay = new FixedDelay();
    delay.delayMs = 10_000;
    expect(new LoadShedder(fixed(1), 0, delay).admit()).toBeNull();
  });

  it('never counts below zero in flight (a response can both finish and close)', () => {
    const shedder = new LoadShedder(fixed(1), 0, new FixedDelay());
    shedder.release(1);
    expect(shedder.admit()).toBeNull();
    expect(shedder.admit()).toBe('in_flight');
  });

  /**
   * An adaptive shedder (ceiling 40) on a clock of its own, and `window(latencyMs, count)`: `count` arrivals, 100 ms,
   * then every admitted one answered in `latencyMs`; it returns how many were admitted.
   */
  const adaptiveOf40 = (maxEventLoopDelayMs: number, delay: FixedDelay, random: () => number) => {
    let now = 0;
    const shedder = new LoadShedder({ mode: 'adaptive', max: 40 }, maxEventLoopDelayMs, delay, random, () => now);
    const window = (latencyMs: number, count: number) => {
      let admitted = 0;
      for (let i = 0; i < count; i++) if (shedder.admit() === null) admitted++;
      now += 100;
      for (let i = 0; i < admitted; i++) shedder.release(latencyMs);
      return admitted;
    };
    return { shedder, window };
  };

  it('sheds by the adaptive bound once answers slow down with it full, and reports the bound', () => {
    const { shedder, window } = adaptiveOf40(0, new FixedDelay(), Math.random);
    expect(shedder.inFlightLimit).toBe(40);
    // Twenty windows of 100 ms at 10 ms a request, with 30 in flight: the long average learns 10 ms.
    for (let i = 0; i < 20; i++) expect(window(10, 30)).toBe(30);
    expect(shedder.inFlightLimit).toBe(40);
    for (let i = 0; i < 8; i++) window(100, 30);
    expect(shedder.inFlightLimit).toBeLessThan(30);
    let refused = 0;
    for (let i = 0; i < 30; i++) if (shedder.admit() === 'in_flight') refused++;
    expect(refused).toBe(30 - shedder.inFlightLimit);
  });

  it('tells the adaptive bound of every refusal: refused for the event loop, a process below half its bound does not grow it', () => {
    const delay = new FixedDelay();
    const { shedder, window } = adaptiveOf40(100, delay, () => 0);
    for (let i = 0; i < 20; i++) window(10, 30);
    for (let i = 0; i < 8; i++) window(100, 30);
    // Fast answers, few in flight, while the event loop is far behind: every other arrival refused for it.
    const refusedWindow = () => {
      delay.delayMs = 500;
      expect(shedder.admit()).toBe('event_loop_delay');
      delay.delayMs = 0;
      window(10, 6);
    };
    refusedWindow(); // its first answer closes the last slow window
    const lowered = shedder.inFlightLimit;
    expect(lowered).toBeLessThan(30);
    for (let i = 0; i < 40; i++) refusedWindow();
    expect(shedder.inFlightLimit).toBe(lowered);
    // Nothing refused: it grows back.
    for (let i = 0; i < 40; i++) window(10, 6);
    expect(shedder.inFlightLimit).toBeGreaterThan(lowered);
  });

  it('stops its delay source', () => {
    const delay = new FixedDelay();
    new LoadShedder(fixed(1), 0, delay).stop();
    expect(delay.stopped).toBe(true);
  });
});

describe('EventLoopDelayMonitor', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const within = async (ms: number, condition: () => boolean) => {
    const until = Date.now() + ms;
    while (!condition() && Date.now() < until) await sleep(20);
    return condition();
  };
  const blockEventLoop = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until);
  };

  it('does not take one long task for a late loop: a 300 ms block in a 1 s window stays far below 100 ms', async () => {
    const monitor = new EventLoopDelayMonitor(1_000, 10);
    try {
      await sleep(400);
      blockEventLoop(300); // one long request
      let worst = 0;
      const end = Date.now() + 1_800;
      while (Date.now() < end) {
        worst = Math.max(worst, monitor.currentDelayMs());
        await sleep(50);
      }
      expect(worst).toBeLessThan(100);
    } finally {
      monitor.stop();
    }
  });

  it('reports a blocked event loop, and nothing once it runs freely again', async () => {
    const monitor = new EventLoopDelayMonitor(100, 10);
    try {
      await sleep(150);
      blockEventLoop(600);
      expect(await within(500, () => monitor.currentDelayMs() > 30)).toBe(true);
      expect(await within(1_000, () => monitor.currentDelayMs() < 30)).toBe(true);
    } finally {
      monitor.stop();
    }
  });
});
