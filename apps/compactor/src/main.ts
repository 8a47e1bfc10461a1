import { AppConfig } from '@vh/config';
import { createHttpApp, listen } from '@vh/http';
import { CompactorModule } from './compactor.module';

/** Compactor: a BullMQ worker that rolls old live history into compressed history (plus HTTP for health). */
async function bootstrap(): Promise<void> {
  const app = await createHttpApp(CompactorModule, 'compactor');
  await listen(app, app.get(AppConfig).http.compactorPort, 'compactor');
}

void bootstrap();
