import { AppConfig } from '@vh/config';
import { createHttpApp, listen } from '@vh/http';
import { ApiModule } from './api.module';

/** Read API: merged live + compressed history for apps and recommendation jobs, and deletions. */
async function bootstrap(): Promise<void> {
  const app = await createHttpApp(ApiModule, 'read API and admin');
  await listen(app, app.get(AppConfig).http.apiPort, 'api');
}

void bootstrap();
