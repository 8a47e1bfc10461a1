import { classifyMessage } from '@vh/erasure';
import { AppStack, StackMember } from './support/app-stack';
import { readTopicToEnd } from './support/event-log';
import { uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string | null>;
  requestId: boolean;
}

/**
 * The collector serves plain posts (a UTF-8 JSON body on /v1/events) before the framework (EventsDirectRoute) and
 * leaves the rest to Nest's controller: a device must not be able to tell which took its post.
 */
describe('collector: a post answered alike by the direct route and by the framework', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let collector: StackMember;
  let auth: TestTokens;
  const profile = uniqueProfileId('routes');

  beforeAll(async () => {
    environment = await createTestEnvironment('collector-routes');
    auth = await testTokens();
    stack = await AppStack.start(environment.env, { collector: 1 });
    collector = stack.first('collector');
  });

  afterAll(async () => {
    await stack?.stop();
    await environment?.dispose();
  });

  /** The same post, once as the direct route takes it and once by a path only the framework takes. */
  async function bothWays(body: string, headers: Record<string, string>): Promise<[Answer, Answer]> {
    const post = async (path: string): Promise<Answer> => {
      const response = await fetch(`${collector.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text.startsWith('{') ? JSON.parse(text) : text,
        headers: Object.fromEntries(
          ['content-type', 'www-authenticate', 'retry-after', 'connection'].map((name) => [
            name,
            response.headers.get(name),
          ]),
        ),
        // Its own each time: whether there is one is what must agree.
        requestId: response.headers.has('x-request-id'),
      };
    };
    return [await post('/v1/events'), await post('/v1/events/')];
  }

  it('accepts, partly accepts and refuses alike, and both put the accepted events on the log', async () => {
    const device = await auth.device(profile);
    const [one, two, three] = watchSession(profile, 'title-1', Date.now() - 3_600_000);
    const invalid = { ...three, positionMs: -1 };
    const cases = [
      JSON.stringify(one),
      JSON.stringify({ events: [two, three] }),
      JSON.stringify({ events: [three, invalid] }),
      JSON.stringify({ events: [invalid] }),
      JSON.stringify({ events: 'not a list' }),
      JSON.stringify({ ...one, positionMs: 'zero' }),
      '',
      '\uFEFF', // a BOM alone: empty once decoded
    ];
    const statuses: number[] = [];
    for (const body of cases) {
      const [direct, framework] = await bothWays(body, device);
      expect(direct).toEqual(framework);
      statuses.push(direct.status);
    }
    expect(statuses).toEqual([202, 202, 207, 400, 400, 400, 400, 400]);
    // Each accepted event went to the log once a way: one, two and three twice each (the same ids; ingest keeps
    // each once, invariant 1).
    const onLog = (await readTopicToEnd(environment.kafka, environment.config.kafka.eventTopic))
      .filter((m) => m.key?.toString() === profile)
      .map((m) => classifyMessage(m.value));
    expect(onLog.map((m) => m.kind)).toEqual(Array(8).fill('sealed'));
  });

  it('refuses a missing token, a foreign profile and a body over the limit alike', async () => {
    const event = JSON.stringify(watchSession(profile, 'title-1', Date.now() - 60_000)[0]);
    const [anonymous, anonymousToo] = await bothWays(event, {});
    expect(anonymous).toEqual(anonymousToo);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="viewing-history"');
    const [foreign, foreignToo] = await bothWays(event, await auth.device(uniqueProfileId('other')));
    expect(foreign).toEqual(foreignToo);
    expect(foreign.status).toBe(403);
    const [large, largeToo] = await bothWays(
      JSON.stringify({ events: [{ pad: 'x'.repeat(1024 * 1024) }] }),
      await auth.device(profile),
    );
    expect(large).toEqual(largeToo);
    expect(large.status).toBe(413);
  });

  it('refuses a body it cannot parse alike, named by its request id both ways', async () => {
    const [direct, framework] = await bothWays('{"events": [', await auth.device(profile));
    expect(direct).toEqual(framework);
    expect(direct.body).toEqual({ error: 'invalid_json', message: 'the body is not valid JSON' });
    expect(direct.requestId).toBe(true);
  });
});
