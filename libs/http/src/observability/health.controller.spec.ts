import { HealthCheckService } from '@nestjs/terminus';
import { DependencyHealth } from './dependency-health';
import { HealthController } from './health.controller';

/** A readiness check that counts its runs and answers (or fails, as terminus does when down) when told. */
function slowHealth() {
  const runs: ((down?: Error) => void)[] = [];
  const health = {
    check: () =>
      new Promise((resolve, reject) => runs.push((down) => (down ? reject(down) : resolve({ status: 'ok' })))),
  } as unknown as HealthCheckService;
  const dependencies = { consumesEventLog: false } as unknown as DependencyHealth;
  return { controller: new HealthController(health, dependencies), runs };
}

describe('HealthController', () => {
  it('runs one readiness check at a time: probes arriving meanwhile share its answer, never pile checks on', async () => {
    const { controller, runs } = slowHealth();
    const answers = Array.from({ length: 50 }, () => controller.ready());
    expect(runs).toHaveLength(1);
    runs[0]();
    expect(await Promise.all(answers)).toEqual(Array(50).fill({ status: 'ok' }));
    // Once answered, the next probe checks again: nothing is kept.
    const next = controller.ready();
    expect(runs).toHaveLength(2);
    runs[1]();
    expect(await next).toEqual({ status: 'ok' });
  });

  it('gives every probe that shared a failed check its failure (503), and checks afresh after it', async () => {
    const { controller, runs } = slowHealth();
    const answers = Array.from({ length: 3 }, () => controller.ready().catch((error: Error) => error.message));
    runs[0](new Error('kafka is down'));
    expect(await Promise.all(answers)).toEqual(Array(3).fill('kafka is down'));
    void controller.ready();
    expect(runs).toHaveLength(2);
  });
});
