import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { encodePlaybackEventBinary, PlaybackEvent } from '@vh/domain';
import { encodeSealedMessage, newDataKey } from '@vh/erasure';
import { createKafka, HEADERS } from '@vh/messaging';

/**
 * The fair ceiling of an HTTP collector (issue 14, `collector_vs_bare_http`): a bare Node HTTP server taking
 * POST /v1/events, parsing the JSON body and sending its events in one produce (acks = all, gzip, keyed by
 * profile, each event's JSON as it came), then 202: the raw producer's work behind an HTTP endpoint. No Nest, no
 * auth, no validation, no sealing, no logging, no metrics. Run as its own process (`BARE_SERVER_PORT`,
 * `EVENT_TOPIC`) by bench/http.bench.ts; prints "listening" when ready. `BARE_SERVER_SEAL=1`: each event sealed as
 * the collector seals it (its binary form, AES-256-GCM with its profile's key, kept in memory as the collector's
 * cache keeps it) and sent uncompressed with the collector's headers, as the collector sends sealed events: the
 * ceiling of a collector with the sealing issue 15 requires. Still less than the collector: one fixed reply instead
 * of an outcome per event, a synchronous key lookup instead of the key cache's promise and timeout.
 */
async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const producer = createKafka(config.kafka, 'bench-raw-collector').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const sealing = process.env.BARE_SERVER_SEAL === '1';
  const keys = new Map<string, { keyId: string; key: Buffer }>();
  const sealed = (event: Record<string, unknown> & { profileId: string }) => {
    let key = keys.get(event.profileId);
    if (!key) keys.set(event.profileId, (key = { keyId: randomUUID(), key: newDataKey() }));
    const plain = { ...event, occurredAt: Date.parse(event.occurredAt as string), acceptedAt: Date.now() };
    return encodeSealedMessage(
      { profileId: event.profileId, keyId: key.keyId },
      key.key,
      encodePlaybackEventBinary(plain as unknown as PlaybackEvent),
    );
  };
  const server = createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/v1/events') {
      response.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const requestId = randomUUID();
        const { events } = JSON.parse(Buffer.concat(chunks).toString()) as {
          events: (Record<string, unknown> & { profileId: string })[];
        };
        await producer.send({
          topic: config.kafka.eventTopic,
          acks: -1,
          compression: sealing ? CompressionTypes.None : CompressionTypes.GZIP,
          messages: events.map((e) => ({
            key: e.profileId,
            value: sealing ? sealed(e) : JSON.stringify(e),
            // The headers the collector's publisher sets on each message (its request id: one a request here).
            ...(sealing ? { headers: { [HEADERS.requestId]: requestId } } : {}),
          })),
        });
        response.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
      })().catch((error: Error) => response.writeHead(500).end(error.message));
    });
  });
  server.listen(Number(process.env.BARE_SERVER_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => server.close(() => void producer.disconnect().then(() => process.exit(0))));
}

void main();
