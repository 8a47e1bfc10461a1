import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { encodeViewingEvent } from '@vh/domain';
import { AppStack } from './support/app-stack';
import { eventually } from './support/eventually';
import { getJson, uniqueProfileId } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

/** The foundation: an event on the log becomes a record in Cassandra and reads back over HTTP. */
describe('event log -> ingest -> live history -> read API', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let auth: TestTokens;

  beforeAll(async () => {
    environment = await createTestEnvironment('pipeline');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { ingest: 1, api: 1 });
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  it('reads back a play event produced straight to Kafka', async () => {
    const profileId = uniqueProfileId();
    const event = {
      type: 'play' as const,
      eventId: randomUUID(),
      profileId,
      titleId: 'title-80057281',
      playbackSessionId: randomUUID(),
      deviceId: 'tv-1',
      positionMs: 42_000,
      occurredAt: Date.parse('2026-03-01T20:00:00Z'),
    };
    const producer = environment.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: environment.config.kafka.eventTopic,
      acks: -1,
      messages: [{ key: profileId, value: encodeViewingEvent(event) }],
    });
    await producer.disconnect();

    const { body } = await eventually(async () => {
      const response = await getJson(`${stack.first('api').url}/v1/profiles/${profileId}/history`, auth.recommender);
      expect(response.body.records).toHaveLength(1);
      return response;
    });
    expect(body.records[0]).toEqual({
      recordId: event.playbackSessionId,
      titleId: 'title-80057281',
      deviceId: 'tv-1',
      startedAt: '2026-03-01T20:00:00.000Z',
      lastEventAt: '2026-03-01T20:00:00.000Z',
      positionMs: 42_000,
      watchedMs: 0,
      titleDurationMs: null,
      state: 'playing',
      completed: false,
    });

    // And the row really is in Cassandra's live table.
    const rows = await environment.cassandra.execute(
      `SELECT event_id, type FROM ${environment.config.cassandra.keyspace}.live_history WHERE profile_id = ?`,
      [profileId],
      { prepare: true },
    );
    expect(rows.rows.map((r) => [String(r.get('event_id')), r.get('type')])).toEqual([[event.eventId, 'play']]);
  });

  it('answers an empty list, not 404, for a profile with no history', async () => {
    const { status, body } = await getJson(
      `${stack.first('api').url}/v1/profiles/${uniqueProfileId('nobody')}/history`,
      auth.recommender,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ records: [], nextCursor: null });
  });
});
