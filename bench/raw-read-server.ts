import { createServer } from 'node:http';
import { loadConfig } from '@vh/config';
import { encodeCursor, foldHistory, needsTrails, pageOfHistory, visibleRecords } from '@vh/domain';
import {
  CompressedHistoryRepository,
  createCassandraClient,
  LiveHistoryRepository,
  ProfileActivityIndex,
} from '@vh/storage';
import { toView } from '../apps/api/src/history/history-request';

/**
 * The fair ceiling of the read API (issue 14, `read_vs_raw`): a bare Node HTTP server answering
 * GET /v1/profiles/:id/history?limit=N from the same tables through the same repositories (live rows, then
 * the compressed version whole through the same cache, trails only when needed; the API reads a chunked
 * version page by page instead), the same fold and page, and the same JSON. No Nest, no auth, no validation, no logging, no metrics, no shedding. Run as its own
 * process (`BARE_SERVER_PORT`, `CASSANDRA_KEYSPACE`) by bench/http.bench.ts; prints "listening" when ready.
 */
async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const client = createCassandraClient(config.cassandra, 'bench-raw-read');
  await client.connect();
  const live = new LiveHistoryRepository(client, config, new ProfileActivityIndex(client, config));
  const compressed = new CompressedHistoryRepository(client, config);
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://raw');
    const match = /^\/v1\/profiles\/([^/]+)\/history$/.exec(url.pathname);
    if (request.method !== 'GET' || !match) {
      response.writeHead(404).end();
      return;
    }
    const profileId = decodeURIComponent(match[1]);
    const limit = Number(url.searchParams.get('limit') ?? config.history.defaultPageSize);
    void (async () => {
      const liveEvents = await live.readProfile(profileId);
      let { history } = await compressed.read(profileId);
      if (needsTrails(liveEvents, history)) ({ history } = await compressed.read(profileId, { withTrails: true }));
      const page = pageOfHistory(visibleRecords(foldHistory(liveEvents, history)), { limit });
      const body = JSON.stringify({
        profileId,
        records: page.records.map(toView),
        nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
      });
      response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    })().catch((error: Error) => response.writeHead(500).end(error.message));
  });
  server.listen(Number(process.env.BARE_SERVER_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => server.close(() => void client.shutdown().then(() => process.exit(0))));
}

void main();
