import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { CompressionTypes, Partitioners } from 'kafkajs';
import { loadConfig } from '@vh/config';
import { encodePlaybackEventBinary, PlaybackEvent, validatePlaybackEvent } from '@vh/domain';
import { AccessTokens, mayActOnProfile, SCOPES } from '@vh/http';
import { encodeSealedMessage, newDataKey } from '@vh/erasure';
import { createKafka, HEADERS } from '@vh/messaging';

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
 * `BARE_SERVER_CONTRACT=1` (with sealing): also what the collector's contract requires of every request, with the
 * collector's own functions: the bearer token verified (AccessTokens, its cache of verified tokens), each event
 * validated (validatePlaybackEvent, invariant 5), stamped with its acceptance time (invariant 6), its profile
 * allowed to the token, and an outcome per event in the answer (202, 207 or 400, as the collector answers): the
 * least collector, without Nest, Express, logging or metrics. Nor the rest, none of it a per-event cost at 20
 * profiles: the batch size and body limits, load shedding, the publish timeout, the x-request-id answer header,
 * 401/403 (a refused token or profile answers 500 here), and the key cache's re-reads (keys kept in memory).
 */
const FIXED = '{"status":"accepted"}';

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const producer = createKafka(config.kafka, 'bench-raw-collector').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const contract = process.env.BARE_SERVER_CONTRACT === '1';
  const sealing = contract || process.env.BARE_SERVER_SEAL === '1';
  const tokens = new AccessTokens(config);
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
  /** The messages' values and the answer: one fixed reply, or (contract) the collector's outcome per event. */
  const accept = async (body: { events: unknown[] }, authorization: string | undefined) => {
    if (!contract) {
      const events = body.events as Posted[];
      const value = (e: Posted) =>
        sealing
          ? sealed({ ...e, occurredAt: Date.parse(e.occurredAt), acceptedAt: Date.now() } as unknown as PlaybackEvent)
          : JSON.stringify(e);
      return { messages: events.map((e) => ({ key: e.profileId, value: value(e) })), status: 202, reply: FIXED };
    }
    const caller = await tokens.verify(authorization);
    const policy = { now: Date.now(), ...config.events };
    const messages: { key: string; value: Buffer }[] = [];
    const results = body.events.map((item, index) => {
      const result = validatePlaybackEvent(item, policy);
      if (!result.ok) return { index, status: 'rejected', issues: result.issues };
      const event = result.value;
      if (!mayActOnProfile(caller, SCOPES.eventsWrite, event.profileId)) throw new Error('a foreign profile');
      event.acceptedAt = policy.now;
      messages.push({ key: event.profileId, value: sealed(event) });
      return { index, eventId: event.eventId, status: 'accepted' };
    });
    const accepted = messages.length;
    const status = accepted === results.length ? 202 : accepted === 0 ? 400 : 207;
    return { messages, status, reply: JSON.stringify({ accepted, rejected: results.length - accepted, results }) };
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
        const { messages, status, reply } = await accept(
          JSON.parse(Buffer.concat(chunks).toString()),
          request.headers.authorization,
        );
        if (messages.length > 0)
          await producer.send({
            topic: config.kafka.eventTopic,
            acks: -1,
            compression: sealing ? CompressionTypes.None : CompressionTypes.GZIP,
            // The header the collector's publisher sets on each message (its request id: one a request here).
            messages: sealing ? messages.map((m) => ({ ...m, headers: { [HEADERS.requestId]: requestId } })) : messages,
          });
        response.writeHead(status, { 'content-type': 'application/json' }).end(reply);
      })().catch((error: Error) => response.writeHead(500).end(error.message));
    });
  });
  server.listen(Number(process.env.BARE_SERVER_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => server.close(() => void producer.disconnect().then(() => process.exit(0))));
}

void main();
