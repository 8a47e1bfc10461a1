import { AppConfig } from '@vh/config';
import { createHttpApp, listen } from '@vh/http';
import { EventLogConsumer } from '@vh/messaging';
import { IngestModule } from './ingest.module';

/** Ingest: a Nest microservice consuming the event log into the live table, plus HTTP for health. */
async function bootstrap(): Promise<void> {
  const app = await createHttpApp(IngestModule, 'ingest');
  app.connectMicroservice({ strategy: app.get(EventLogConsumer) }, { inheritAppConfig: true });
  await app.startAllMicroservices();
  await listen(app, app.get(AppConfig).http.ingestPort, 'ingest');
}

void bootstrap();
