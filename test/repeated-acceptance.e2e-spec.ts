import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { AppStack } from './support/app-stack';
import { eventually } from './support/eventually';
import { getJson, uniqueProfileId } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

/**
 * Invariant 1 (finding 1 of the seed-7 chaos run): one event delivered twice, each delivery accepted at its
 * own time (a device re-posting it later), counts once, from its earliest acceptance, whatever the order in
 * which the live table receives the two. A clear accepted between the two deliveries hides the session.
 */
describe('an event accepted twice, a clear accepted in between', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let auth: TestTokens;

  beforeAll(async () => {
    environment = await createTestEnvironment('repeated_acceptance');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { ingest: 1, api: 1 });
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  const produce = async (events: ViewingEvent[]) => {
    const producer = environment.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: environment.config.kafka.eventTopic,
      acks: -1,
      messages: events.map((event) => ({ key: event.profileId, value: encodeViewingEvent(event) })),
    });
    await producer.disconnect();
  };

  /** E accepted at t1 and again at t3, a clear at t2; `order` is the order the copies reach the log. */
  const scenario = (order: 'first-acceptance-first' | 'later-acceptance-first') => {
    const profileId = uniqueProfileId('twice');
    const t1 = Date.now() - 60_000;
    const play: ViewingEvent = {
      type: 'play',
      eventId: randomUUID(),
      profileId,
      titleId: 'title-1',
      playbackSessionId: randomUUID(),
      deviceId: 'tv-1',
      positionMs: 1_000,
      occurredAt: t1 - 5_000,
      acceptedAt: t1,
    };
    const clear: ViewingEvent = {
      type: 'history-cleared',
      eventId: randomUUID(),
      profileId,
      occurredAt: t1 + 10_000,
      acceptedAt: t1 + 10_000,
    };
    const again = { ...play, acceptedAt: t1 + 20_000 };
    // A marker session accepted after the clear tells when ingest has caught up with the profile.
    const marker: ViewingEvent = {
      ...play,
      eventId: randomUUID(),
      playbackSessionId: randomUUID(),
      acceptedAt: t1 + 30_000,
    };
    const copies = order === 'first-acceptance-first' ? [play, again] : [again, play];
    return { profileId, events: [copies[0], clear, copies[1], marker], marker };
  };

  it.each(['first-acceptance-first', 'later-acceptance-first'] as const)(
    'hides the session whose first acceptance came before the clear (%s)',
    async (order) => {
      const { profileId, events, marker } = scenario(order);
      await produce(events);
      const { body } = await eventually(async () => {
        const response = await getJson(`${stack.first('api').url}/v1/profiles/${profileId}/history`, auth.recommender);
        expect(response.body.records.map((r: { recordId: string }) => r.recordId)).toContain(
          (marker as { playbackSessionId: string }).playbackSessionId,
        );
        return response;
      });
      expect(body.records.map((r: { recordId: string }) => r.recordId)).toEqual([
        (marker as { playbackSessionId: string }).playbackSessionId,
      ]);
    },
  );
});
