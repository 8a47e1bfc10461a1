import { AppConfig } from '@vh/config';
import { createHttpApp, listen } from '@vh/http';
import { CollectorModule } from './collector.module';

/** Collector: devices post playback events over HTTP; they are validated and appended to the event log. */
async function bootstrap(): Promise<void> {
  const app = await createHttpApp(CollectorModule, 'collector');
  await listen(app, app.get(AppConfig).http.collectorPort, 'collector');
}

void bootstrap();
