import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { encodePlaybackEventBinary, PlaybackEvent } from '@vh/domain';
import { AccessTokens } from '@vh/http';
import { encodeSealedMessage, newDataKey, ProfileKeys, ProfileKeySealer } from '@vh/erasure';
import { InMemoryKeyStore } from '@vh/erasure/testing/in-memory-profile-key-store';
import { createKafka, HEADERS, ViewingEventPublisher } from '@vh/messaging';
import { EventIntake } from '../apps/collector/src/event-intake';
import { postEvents } from '../apps/collector/src/post-events';

/**
 * The fair ceiling of an HTTP collector (issue 14, `collector_vs_bare_http`): a bare Node HTTP server taking
 * POST /v1/events, parsing the JSON body and sending its events in one produce (acks = all, gzip, keyed by
 * profile, each event's JSON as it came), then 202: the raw producer's work behind an HTTP endpoint. No Nest, no
 * auth, no validation, no sealing, no logging, no metrics. Run as its own process (`BARE_SERVER_PORT`,
 * `EVENT_TOPIC`) by bench/http.bench.ts; prints "listening" when ready. `BARE_SERVER_SEAL=1`: each event sealed as
 * the collector seals it (its binary form, AES-256-GCM with its profile's key, kept in memory as the collector's
 * cache keeps it) and sent uncompressed with the collector's header, as the collector sends sealed events: the
 * ceiling of a collector with the sealing issue 15 requires. Still less than the collector: one fixed reply instead
 * of an outcome per event, a synchronous key lookup instead of the key cache's promise and timeout.
 * `BARE_SERVER_CONTRACT=1`: the least collector, the collector's own code without its framework: each request's
 * bearer token verified (AccessTokens, its cache of verified tokens) and its events handed to the collector's own
 * EventIntake (validation, invariant 5; the acceptance time, invariant 6; the profile allowed to the token; its
 * metrics; sealed by ProfileKeySealer and sent by ViewingEventPublisher as the collector sends them), answered with
 * the outcome per event as the collector's controller answers (202, 207 or 400). The profiles' keys are kept in
 * memory (the key store's in-memory fake behind the collector's own key cache: a miss, about every 30 s a profile,
 * reads memory instead of Cassandra). Without Nest, Express, the request lines, the request metrics, the body limit,
 * load shedding, the guard's scope check and the x-request-id answer header; the batch limit is the intake's. A
 * refused token, profile or malformed batch answers 500 here.
 */
const FIXED = '{"status":"accepted"}';

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const contract = process.env.BARE_SERVER_CONTRACT === '1';
  // The bare endpoints' own producer; the least collector sends through the collector's publisher only.
  const producer = createKafka(config.kafka, 'bench-raw-collector').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  if (!contract) await producer.connect();
  const sealing = process.env.BARE_SERVER_SEAL === '1';
  const keys = new Map<string, { keyId: string; key: Buffer }>();
  const sealed = (event: PlaybackEvent) => {
    let key = keys.get(event.profileId);
    if (!key) keys.set(event.profileId, (key = { keyId: randomUUID(), key: newDataKey() }));
    return encodeSealedMessage(
      { profileId: event.profileId, keyId: key.keyId },
      key.key,
      encodePlaybackEventBinary(event),
    );
  };
  type Posted = Record<string, unknown> & { profileId: string; occurredAt: string };
  /** The bare endpoints: the raw producer's work (sealing each event, or not), one fixed reply. */
  const bare = async (body: { events: Posted[] }, requestId: string) => {
    const value = (e: Posted) =>
      sealing
        ? sealed({ ...e, occurredAt: Date.parse(e.occurredAt), acceptedAt: Date.now() } as unknown as PlaybackEvent)
        : JSON.stringify(e);
    await producer.send({
      topic: config.kafka.eventTopic,
      acks: -1,
      compression: sealing ? CompressionTypes.None : CompressionTypes.GZIP,
      messages: body.events.map((e) => ({
        key: e.profileId,
        value: value(e),
        // The header the collector's publisher sets on each message (its request id).
        ...(sealing && { headers: { [HEADERS.requestId]: requestId } }),
      })),
    });
    return { status: 202, reply: FIXED };
  };
  /** The least collector: the collector's own intake, answered as its controller answers a batch. */
  const tokens = new AccessTokens(config);
  const publisher = new ViewingEventPublisher(
    config,
    new ProfileKeySealer(new ProfileKeys(new InMemoryKeyStore(), config), config),
  );
  const intake = new EventIntake(publisher, config);
  const least = async (body: unknown, requestId: string, authorization: string | undefined) => {
    const answer = await postEvents(intake, body, await tokens.verify(authorization), requestId);
    return { status: answer.status, reply: JSON.stringify(answer.body) };
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
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const { status, reply } = contract
          ? await least(body, requestId, request.headers.authorization)
          : await bare(body, requestId);
        response.writeHead(status, { 'content-type': 'application/json' }).end(reply);
      })().catch((error: Error) => response.writeHead(500).end(error.message));
    });
  });
  server.listen(Number(process.env.BARE_SERVER_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () =>
    server.close(
      () => void Promise.all([producer.disconnect(), publisher.onApplicationShutdown()]).then(() => process.exit(0)),
    ),
  );
}

void main();
