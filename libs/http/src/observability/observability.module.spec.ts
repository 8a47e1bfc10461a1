import { DynamicModule, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { storage } from 'nestjs-pino/storage';
import request from 'supertest';
import { ViewingHistoryConfigModule } from '@vh/config';
import { ObservabilityModule } from './observability.module';

/**
 * Node 20's AsyncLocalStorage turns its promise hook on at its first run() and keeps it on: what a worker must never
 * pay for its operators' probes. Whether nestjs-pino's storage (this file's copy) runs a request at all.
 */
const storageRuns = jest.spyOn(storage, 'run');

async function appWith(observability: DynamicModule): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [ViewingHistoryConfigModule, observability] }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  return app;
}

describe('ObservabilityModule', () => {
  it('in a worker, health and metrics answer without entering a request context', async () => {
    const app = await appWith(ObservabilityModule.forWorkers());
    try {
      await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
      await request(app.getHttpServer()).get('/metrics').expect(200);
      await request(app.getHttpServer()).get('/no-such-route').expect(404);
      await request(app.getHttpServer()).get('/docs/openapi.json').expect(404);
      expect(storageRuns).not.toHaveBeenCalled();
    } finally {
      await app.close();
    }
  });

  it('in an app whose requests are the hot path, the line per request is written without a request context', async () => {
    const app = await appWith(ObservabilityModule.forRequestLines());
    try {
      await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
      await request(app.getHttpServer()).get('/no-such-route').expect(404);
      expect(storageRuns).not.toHaveBeenCalled();
    } finally {
      await app.close();
    }
  });

  it('in an app serving requests, each request runs in its context (its lines carry its id)', async () => {
    const app = await appWith(ObservabilityModule.forRequests());
    try {
      await request(app.getHttpServer()).get('/health/live').expect(200);
      expect(storageRuns).toHaveBeenCalled();
    } finally {
      await app.close();
    }
  });
});
