import { HealthIndicatorService } from '@nestjs/terminus';
import { loadConfig } from '@vh/config';
import { createKafka } from '@vh/messaging';
import { DependencyHealth } from './dependency-health';

// A Kafka client that connects but never answers, nor finishes disconnecting (kafkajs waits for the unanswered
// request when it disconnects): what a broker that stopped answering on an open connection looks like.
jest.mock('@vh/messaging', () => ({
  ...jest.requireActual('@vh/messaging'),
  createKafka: jest.fn(() => ({
    admin: () => ({
      connect: () => Promise.resolve(),
      describeCluster: () => new Promise(() => undefined),
      disconnect: () => new Promise(() => undefined),
    }),
  })),
}));

describe('DependencyHealth', () => {
  it('answers a silent Kafka down within the probe timeout, and the next probe starts a new client', async () => {
    const health = new DependencyHealth(new HealthIndicatorService(), loadConfig());
    const started = Date.now();
    expect(await health.kafkaReady()).toEqual({ kafka: { status: 'down', message: 'no answer within 2000 ms' } });
    expect(await health.kafkaReady()).toEqual({ kafka: { status: 'down', message: 'no answer within 2000 ms' } });
    // Not stuck in the first client's disconnect: each probe answered at its own timeout.
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(createKafka).toHaveBeenCalledTimes(2);
  });
});
