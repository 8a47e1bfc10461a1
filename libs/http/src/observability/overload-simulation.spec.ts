import { EventLoopDelaySource, LoadShedder } from './load-shedder';

const noDelay: EventLoopDelaySource = { currentDelayMs: () => 0, stop: () => undefined };

interface Run {
  /** Mean time from admission to answer over the last 5 simulated seconds, ms. */
  latencyMs: number;
  /** Requests answered a ms over those seconds (the process's capacity is 1). */
  throughput: number;
}

/**
 * A process whose CPU is its bottleneck (as the read API on this 2-core machine, bench/ANALYSIS.md session 17):
 * each admitted request waits 10 ms on storage (unbounded parallelism), then needs 1 ms of CPU, shared equally
 * between the requests on it; so it answers at most 1 request a ms, in 11 ms when alone. Requests arrive at half
 * its capacity for 5 s, then at twice it for 20 s (an open loop: arrivals do not wait for answers). Time steps
 * are 1 ms.
 */
function simulate(shedderAt: (clock: () => number) => LoadShedder): Run {
  let now = 0;
  const shedder = shedderAt(() => now);
  const working: { admittedAt: number; storageUntil: number; cpuLeft: number }[] = [];
  let arrivals = 0;
  let answered = 0;
  let latencySum = 0;
  const measureFrom = 20_000;
  for (; now < 25_000; now++) {
    arrivals += now < 5_000 ? 0.5 : 2;
    for (; arrivals >= 1; arrivals--)
      if (shedder.admit() === null) working.push({ admittedAt: now, storageUntil: now + 10, cpuLeft: 1 });
    const onCpu = working.filter((r) => r.storageUntil <= now);
    for (const request of onCpu) request.cpuLeft -= 1 / onCpu.length;
    for (let i = working.length - 1; i >= 0; i--) {
      const request = working[i];
      if (request.storageUntil > now || request.cpuLeft > 1e-9) continue;
      working.splice(i, 1);
      const latencyMs = now + 1 - request.admittedAt;
      shedder.release(latencyMs);
      if (now >= measureFrom) {
        answered++;
        latencySum += latencyMs;
      }
    }
  }
  return { latencyMs: latencySum / answered, throughput: answered / (25_000 - measureFrom) };
}

describe('LoadShedder at twice the capacity of a CPU-bound process', () => {
  it('with a fixed bound of 128, accepted requests queue on the CPU: latency about 128 times the work, not bounded by it', () => {
    const run = simulate((clock) => new LoadShedder({ mode: 'fixed', max: 128 }, 0, noDelay, Math.random, clock));
    expect(run.throughput).toBeGreaterThan(0.95);
    expect(run.latencyMs).toBeGreaterThan(100);
  });

  it('with the adaptive bound (ceiling 128), it lowers the bound until latency is near the unloaded one, at full throughput', () => {
    const run = simulate((clock) => new LoadShedder({ mode: 'adaptive', max: 128 }, 0, noDelay, Math.random, clock));
    expect(run.throughput).toBeGreaterThan(0.9);
    expect(run.latencyMs).toBeLessThan(3 * 11);
  });

  it("at the service's default tolerance (3) too, with latency allowed higher", () => {
    const run = simulate(
      (clock) => new LoadShedder({ mode: 'adaptive', max: 128, tolerance: 3 }, 0, noDelay, Math.random, clock),
    );
    expect(run.throughput).toBeGreaterThan(0.9);
    expect(run.latencyMs).toBeLessThan(6 * 11);
  });
});
