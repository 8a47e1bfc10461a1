import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@vh/config';
import { encodeViewingEvent } from '@vh/domain';
import { DeadLetterPublisher } from '@vh/messaging';
import { AppStack } from './support/app-stack';
import { browserSupport } from './support/browser';
import { tokenOf } from './support/console-session';
import { uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';

const HOUR = 3_600_000;
const ARTIFACTS = join(__dirname, '..', 'test-artifacts', 'console');
const support = browserSupport();
const describeInBrowser = support.missing.length ? describe.skip : describe;
if (support.missing.length) console.warn(`console browser test skipped: missing ${support.missing.join('; ')}`);

describeInBrowser('operator console in headless Chromium', () => {
  let environment: TestEnvironment;
  let stack: AppStack;
  let browser: any;
  let api: string;
  const profileId = uniqueProfileId('browser');

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    environment = await createTestEnvironment('console_browser', {
      COMPACTION_MIN_AGE_MS: String(2 * HOUR),
      EVENT_MAX_AGE_MS: String(HOUR),
    });
    stack = await AppStack.start(environment.env, { collector: 1, ingest: 1, api: 1, compactor: 1 });
    api = stack.first('api').url;
    // A session an older ingest dead-lettered (see dead-letters.e2e-spec.ts), old enough to be compacted.
    const acceptedAt = Date.now() - 2.5 * HOUR;
    const publisher = new DeadLetterPublisher(loadConfig({ ...process.env, ...environment.env }));
    try {
      await publisher.publish(
        watchSession(profileId, 'title-browser', acceptedAt).map((event, i) => ({
          sourceTopic: environment.config.kafka.eventTopic,
          sourcePartition: 0,
          sourceOffset: String(500 + i),
          sourceTimestamp: String(acceptedAt),
          key: Buffer.from(profileId),
          value: Buffer.from(encodeViewingEvent({ ...event, occurredAt: Date.parse(event.occurredAt), acceptedAt })),
          reason: 'invalid event: eventId: must be a UUID (8-4-4-4-12 hex digits)',
        })),
      );
    } finally {
      await publisher.onApplicationShutdown();
    }
    browser = await support.chromium.launch({
      executablePath: support.executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await environment?.dispose();
  });

  it('signs in, watches the overview, opens Bull Board, re-drives a dead letter, compacts, finds the record, signs out', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (dialog: any) => dialog.accept());
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    // Sign in with the token typed into the form; it lands nowhere but the one POST.
    await page.goto(`${api}/console`);
    await page.getByLabel('Operator token').fill(await tokenOf('operator', environment.env));
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(page.url()).toBe(`${api}/console#/overview`);
    expect(await page.evaluate('[document.cookie, localStorage.length, sessionStorage.length]')).toEqual(['', 0, 0]);
    const cookies = await context.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'vh_console', httpOnly: true, sameSite: 'Strict' })]);

    // The overview, refreshed live: every dependency up, the four dead letters waiting.
    await page.locator('#dead-letters-pending', { hasText: '4' }).waitFor({ timeout: 60_000 });
    for (const name of ['kafka', 'cassandra', 'redis'])
      await page.getByRole('row', { name: new RegExp(`^${name} up`) }).waitFor({ timeout: 60_000 });
    await page.locator('#rate-in').filter({ hasText: /^\d/ }).waitFor();
    await shot('overview');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('overview-390');
    await page.setViewportSize({ width: 1280, height: 900 });

    // The cookie opens Bull Board.
    const board = await page.goto(`${api}/admin/queues`);
    expect(board.status()).toBe(200);
    await page.getByText(environment.env.COMPACTION_QUEUE).first().waitFor({ timeout: 30_000 });
    await shot('bull-board');

    // Dead letters: look at one, re-drive them all.
    await page.goto(`${api}/console#/dead-letters`);
    await page.getByRole('heading', { name: '4 waiting' }).waitFor();
    await page.getByRole('button', { name: '0-0' }).click();
    await page.getByLabel('payload').filter({ hasText: profileId }).waitFor();
    await shot('dead-letters');
    await page.getByRole('button', { name: 'Re-drive all' }).click();
    await page.locator('#status', { hasText: 'Re-driven: 4' }).waitFor();

    // The profile: the re-driven record appears (live rows), then compaction from the compaction page.
    await page.goto(`${api}/console#/profile/${profileId}`);
    for (let attempt = 0; !(await page.getByRole('cell', { name: 'title-browser' }).count()); attempt++) {
      if (attempt > 120) throw new Error('the re-driven record never appeared in the profile view');
      await page.waitForTimeout(500);
      await page.getByRole('button', { name: 'Refresh' }).click();
    }
    await page.getByRole('row', { name: /^live rows 4$/ }).waitFor();
    await shot('profile-live');

    await page.goto(`${api}/console#/compaction`);
    await page.getByLabel('Profiles').fill(profileId);
    await page.getByRole('button', { name: 'Compact', exact: true }).click();
    await page
      .getByRole('row')
      .filter({ hasText: profileId })
      .filter({ hasText: 'completed' })
      .waitFor({ timeout: 60_000 });
    await shot('compaction');

    await page.goto(`${api}/console#/profile/${profileId}`);
    await page.getByRole('row', { name: /^compressed version 1$/ }).waitFor();
    await page.getByRole('row', { name: /^live rows 0$/ }).waitFor();
    await page.getByRole('cell', { name: 'title-browser' }).waitFor();
    await page.getByRole('heading', { name: /^Chunks of set/ }).waitFor();
    await shot('profile-compacted');

    // Sign out: back to the form; the old cookie no longer opens anything.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await context.cookies()).toEqual([]);
    expect((await page.goto(`${api}/admin/queues`)).status()).toBe(401);
    await page.goto(`${api}/console#/overview`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate("fetch('/v1/admin/overview').then((r) => r.status)")).toBe(401);
    await shot('signed-out');
    await context.close();
  }, 600_000);
});
