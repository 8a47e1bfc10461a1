import type { IncomingMessage, ServerResponse } from 'node:http';
import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppConfig, loadConfig } from '@vh/config';
import { BodyRejectedError } from './body-rejected.error';
import { ViewingHistoryErrorFilter } from './error.filter';
import { assignRequestId } from './request-id';

/** Creates an HTTP app with JSON logs, the shared error mapping, the body limit and OpenAPI docs. */
export async function createHttpApp(module: Type<unknown>, title: string): Promise<NestExpressApplication> {
  const config = loadConfig();
  const app = await NestFactory.create<NestExpressApplication>(module, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(Logger));
  // The request id before the body parser: a body it refuses is answered with the id too, as a direct route's is.
  app.use((request: IncomingMessage, response: ServerResponse, next: () => void) => {
    assignRequestId(request, response);
    next();
  });
  app.useBodyParser('json', { limit: config.http.bodyLimitBytes });
  // Nest turns the parser's SyntaxError into a 400 with the parser's own message; as a BodyRejectedError it is
  // answered `invalid_json` by the mapping, as the collector's direct route answers it.
  app.use((error: unknown, _request: unknown, _response: unknown, next: (error: unknown) => void) =>
    next(
      (error as { type?: string } | null)?.type === 'entity.parse.failed'
        ? new BodyRejectedError('entity.parse.failed')
        : error,
    ),
  );
  app.useGlobalFilters(new ViewingHistoryErrorFilter());
  app.disable('x-powered-by');
  // Express hashes every body for an ETag: SHA-1 of each history page, about 1% of the read API's CPU
  // (bench/ANALYSIS.md, session 13), for pages that are read once, by cursor. What is lost: a browser revalidating
  // the operator console's small files gets them again instead of a 304.
  app.set('etag', false);
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(`Viewing history: ${title}`)
      .setDescription('See docs/api.md for the event contract, scopes and errors.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

/**
 * Listens on loopback, and bounds shutdown: on SIGTERM Nest drains (HTTP, consumer, worker); if that
 * takes longer than SHUTDOWN_TIMEOUT_MS the process exits anyway.
 */
export async function listen(app: INestApplication, port: number, name: string): Promise<void> {
  const { http } = app.get(AppConfig);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        app.get(Logger).error(`${name}: shutdown took longer than ${http.shutdownTimeoutMs} ms; exiting`);
        process.exit(1);
      }, http.shutdownTimeoutMs).unref();
    });
  }
  await app.listen(port, '127.0.0.1');
  app.get(Logger).log(`${name} listening on http://127.0.0.1:${port}`);
}
