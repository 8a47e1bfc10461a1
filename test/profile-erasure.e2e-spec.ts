import { encodeViewingEvent, ViewingEvent } from '@vh/domain';
import { randomUUID } from 'node:crypto';
import { Client, types } from 'cassandra-driver';
import {
  CassandraErasuresInProgress,
  CassandraProfileKeyStore,
  classifyMessage,
  encodeSealedEnvelope,
  erasedKeyIds,
  ErasureLedger,
  migrateProfileKeys,
  newDataKey,
  ProfileErasure,
  ProfileKeySealer,
  ProfileKeys,
  seal,
  sealContext,
  standaloneProfileKeys,
} from '@vh/erasure';
import { ErasureInProgressError } from '@vh/domain';
import { loadConfig } from '@vh/config';
import { HEADERS, ViewingEventPublisher } from '@vh/messaging';
import { dayOf, dropKeyspace, ProfileActivityIndex, shardOf, StoredHistoryEraser } from '@vh/storage';
import { AppProcess } from './support/app-process';
import { runCli } from './support/cli';
import { produce, readTopic, readTopicToEnd, syntheticHistory, untilIngestCaughtUp } from './support/event-log';
import { eventually } from './support/eventually';
import { countRows, readExport } from './support/history-export';
import { getJson, postJson, uniqueProfileId, watchSession } from './support/playback-events';
import { createTestEnvironment, TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';
import { openStores, Stores } from './support/stores';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Issue 15 §3: after an erasure nothing of the profile's history can be read, exported, replayed or read off the log. */
describe('erasing a profile for real (crypto-shredding)', () => {
  let environment: TestEnvironment;
  let collector: AppProcess;
  let ingest: AppProcess;
  let api: AppProcess;
  let auth: TestTokens;
  let stores: Stores;
  let keys: ReturnType<typeof standaloneProfileKeys>;
  let sealer: ProfileKeySealer;
  const now = Date.now();
  const victim = uniqueProfileId('victim');
  const bystander = uniqueProfileId('bystander');
  const secretTitles = ['secret-old-title', 'secret-new-title'];
  /** Sealed with the victim's key before the erasure, on the log after its mark: the new history's (ADR 9). */
  const afterMarkTitle = 'after-mark-title';
  let messagesOnLog = 0;
  /** Events of the victim sealed with the key the erasure destroys. */
  let victimSealed = 0;
  let afterMarkEvents = 0;

  /** Events of days ago go straight onto the log, sealed as the collector seals them (it refuses old ones). */
  const produceSealed = async (events: ViewingEvent[]) => {
    const values = await sealer.seal(events);
    await produce(
      environment.kafka,
      environment.config.kafka.eventTopic,
      events.map((e, i) => ({ key: e.profileId, value: values[i] })),
    );
    messagesOnLog += events.length;
  };
  const postSession = async (profileId: string, titleId: string, startedAt: number) => {
    const response = await postJson(
      `${collector.url}/v1/events`,
      { events: watchSession(profileId, titleId, startedAt) },
      await auth.device(profileId),
    );
    expect(response.status).toBe(202);
    messagesOnLog += 4;
  };
  const titlesOf = async (profileId: string, base = api.url) => {
    const response = await getJson(`${base}/v1/profiles/${profileId}/history?limit=200`, auth.recommender);
    expect(response.status).toBe(200);
    return (response.body.records as { titleId: string }[]).map((r) => r.titleId).sort();
  };
  const erase = async (profileId: string, headers: Record<string, string>, body?: unknown) => {
    const response = await fetch(`${api.url}/v1/profiles/${profileId}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => null)) as any };
  };

  /** The shredding keys of a profile, read straight from the keys keyspace. */
  const shreddingRows = async (profileId: string) =>
    (
      await environment.cassandra.execute(
        `SELECT key_id, erasure_id FROM ${environment.config.profileKeys.keyspace}.shredding_profile_keys WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      )
    ).rows.map((r) => ({ keyId: String(r.get('key_id')), erasureId: String(r.get('erasure_id')) }));

  const inProgress = () => new CassandraErasuresInProgress(keys.client, environment.config);

  /**
   * The API's own erasure run in this process, paused at one step (before erasing the stored history, or before
   * publishing its mark, after its last renewal) until `wake`: a process stalled there.
   */
  const stalledErasure = (profileId: string, at: 'stored-history' | 'publish') => {
    const real = new ViewingEventPublisher(environment.config);
    const ledger = new ErasureLedger(stores.client, environment.config);
    const eraser = new StoredHistoryEraser(stores.client, environment.config, stores.compressed, stores.activity);
    let wake: (() => void) | undefined;
    const pause = () => new Promise<void>((resolve) => (wake = resolve));
    const stalledEraser = {
      erase: async (...args: Parameters<StoredHistoryEraser['erase']>) => {
        if (at === 'stored-history') await pause();
        return eraser.erase(...args);
      },
    } as unknown as StoredHistoryEraser;
    const publisher = {
      publishEncoded: async (...args: Parameters<ViewingEventPublisher['publishEncoded']>) => {
        if (at === 'publish') await pause();
        return real.publishEncoded(...args);
      },
    } as unknown as ViewingEventPublisher;
    const erasureId = randomUUID();
    const result = new ProfileErasure(keys.keys, publisher, stalledEraser, ledger, inProgress(), environment.config)
      .erase(profileId, { erasureId })
      .catch((error: unknown) => error);
    return {
      erasureId,
      ledger,
      result,
      paused: () => wake !== undefined,
      wake: () => wake?.(),
      /** Wakes it if still paused, waits for it, and closes its producer. */
      end: async () => {
        wake?.();
        await result;
        await real.onApplicationShutdown();
      },
    };
  };

  beforeAll(async () => {
    environment = await createTestEnvironment('erasure', {
      EVENT_MAX_AGE_MS: String(HOUR),
      COMPACTION_MIN_AGE_MS: String(2 * HOUR),
      COMPACTION_LIVE_EVENTS_TRIGGER: '1000000',
      HISTORY_EXPORT_INDEX_MAX_DAYS: '10',
      // A collector may seal with a key it cached for this long after the key was erased (docs/adr/0009).
      PROFILE_KEYS_CACHE_MS: '2000',
      // The grace of an erased key; its bytes go once it is over and ingest is past them (the replay below
      // runs after that).
      PROFILE_KEYS_SHREDDING_MS: '4000',
      PROFILE_KEYS_SWEEP_MS: '500',
      // An erasure whose lease runs out without its mark is finished by ingest's sweep.
      PROFILE_ERASURE_LEASE_MS: '5000',
    });
    auth = await testTokens();
    [collector, ingest, api] = await Promise.all([
      AppProcess.start('collector', environment.env),
      AppProcess.start('ingest', environment.env),
      AppProcess.start('api', environment.env),
    ]);
    stores = openStores(environment.config);
    keys = standaloneProfileKeys(environment.config, 'e2e');
    sealer = new ProfileKeySealer(keys.keys, environment.config);

    // Both profiles: history of three days ago (compacted below) and of the last hour (live).
    for (const [profileId, prefix] of [
      [victim, 'secret'],
      [bystander, 'public'],
    ]) {
      const old = syntheticHistory(1, 3, now - 3 * DAY).map((e) => ({
        ...e,
        profileId,
        titleId: `${prefix}-old-title`,
      }));
      await produceSealed(old);
      await postSession(profileId, `${prefix}-new-title`, now - 50 * 60_000);
      if (profileId === victim) victimSealed += old.length + 4;
    }
    await eventually(async () => expect(await titlesOf(victim)).toHaveLength(4), 120_000, 500);
    await eventually(async () => expect(await titlesOf(bystander)).toHaveLength(4), 120_000, 500);
    for (const profileId of [victim, bystander]) await stores.compactor().compact(profileId);
    expect(await countRows(environment.cassandra, environment.config.cassandra.keyspace, 'live_history', victim)).toBe(
      4,
    );
  }, 300_000);

  afterAll(async () => {
    await Promise.all([collector?.stop(), ingest?.stop(), api?.stop()]);
    await stores?.close();
    await keys?.close();
    await environment?.dispose();
  });

  it('seals playback events: the raw log never shows a title, even before an erasure', async () => {
    const raw = await readTopic(environment.kafka, environment.config.kafka.eventTopic, messagesOnLog);
    expect(raw).toHaveLength(messagesOnLog);
    const text = raw.map((m) => m.value!.toString('utf8')).join('\n');
    for (const title of [...secretTitles, 'public-old-title', 'public-new-title']) expect(text).not.toContain(title);
    // The collector seals in the binary form (docs/event-log.md): 00 01, profile and key id, ciphertext.
    const sealed = raw.filter((m) => m.value![0] === 0x00 && classifyMessage(m.value).kind === 'sealed');
    expect(sealed.length).toBeGreaterThanOrEqual(secretTitles.length);
  });

  it('refuses an erasure without the right to it or without the confirmation, and erases nothing', async () => {
    expect((await erase(victim, await auth.device(bystander), { confirm: victim })).status).toBe(403);
    expect((await erase(victim, auth.recommender, { confirm: victim })).status).toBe(403);
    expect((await erase(victim, {}, { confirm: victim })).status).toBe(401);
    const unconfirmed = await erase(victim, await auth.device(victim));
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.body.issues).toEqual([expect.objectContaining({ field: 'confirm' })]);
    const wrong = await erase(victim, await auth.device(victim), { confirm: bystander });
    expect(wrong.status).toBe(400);
    expect((await erase(victim, auth.operator, { confirm: victim, extra: 1 })).status).toBe(400);
    expect(await titlesOf(victim)).toHaveLength(4);
  });

  it('erases: nothing of the profile can be read or exported, the bystander keeps all; an event sealed with the old key after the mark is the new history', async () => {
    const bystanderBefore = await titlesOf(bystander);
    // A collector's cached key: sealed with the victim's key before the erasure, published after its mark.
    const inFlight = syntheticHistory(1, 1, now - 40 * 60_000).map((e) => ({
      ...e,
      profileId: victim,
      titleId: afterMarkTitle,
    }));
    const inFlightValues = await sealer.seal(inFlight);

    const erased = await erase(victim, await auth.device(victim), { confirm: victim });
    expect(erased.status).toBe(202);
    expect(erased.body).toMatchObject({ status: 'accepted', erasureId: expect.any(String) });
    messagesOnLog += 1;
    expect(await titlesOf(victim)).toEqual([]);
    // Ingest meets the mark: erases in the log's order.
    await eventually(async () => {
      const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
      expect(metrics).toMatch(/viewing_history_profile_erasures_total\{by="ingest"\} 1/);
    }, 60_000);
    const ks = environment.config.cassandra.keyspace;
    expect(await titlesOf(victim)).toEqual([]);
    expect(await countRows(environment.cassandra, ks, 'live_history', victim)).toBe(0);

    // Taken by the log ten minutes ago (the producer's time): ingest's copies keep that log time (below).
    const loggedAt = String(Date.now() - 10 * 60_000);
    await produce(
      environment.kafka,
      environment.config.kafka.eventTopic,
      inFlight.map((e, i) => ({ key: e.profileId, value: inFlightValues[i], timestamp: loggedAt })),
    );
    // The stale-key events, and ingest's copies of them sealed with the new key.
    messagesOnLog += 2 * inFlight.length;
    // Acknowledged, after the mark: ingested as the profile's new history, never lost (invariant 2).
    await eventually(async () => expect(await titlesOf(victim)).toEqual([afterMarkTitle]), 60_000, 500);
    // Every stale-key event is also on the log again, sealed with the profile's new key, at its original's log
    // time: a restore --until between the two takes the copy as it would the original (review of issue 15).
    victimSealed += inFlight.length;
    afterMarkEvents = inFlight.length;
    const atThatTime = (
      await readTopic(environment.kafka, environment.config.kafka.eventTopic, messagesOnLog, 10_000)
    ).filter((m) => m.key?.toString('utf8') === victim && m.timestamp === loggedAt);
    const keyIdOf = (value: Buffer | null) => {
      const c = classifyMessage(value);
      return c.kind === 'sealed' ? c.envelope.keyId : c.kind;
    };
    expect(atThatTime).toHaveLength(2 * inFlight.length);
    const [oldKeyId] = atThatTime.map((m) => keyIdOf(m.value));
    const originals = atThatTime.filter((m) => keyIdOf(m.value) === oldKeyId);
    const copies = atThatTime.filter((m) => keyIdOf(m.value) !== oldKeyId);
    // Each copy names where its original lay (a later erasure's mark between the two erases the copy too).
    expect(copies.map((m) => m.headers[HEADERS.redrivenSource]?.toString()).sort()).toEqual(
      originals.map((m) => `${environment.config.kafka.eventTopic}/${m.partition}/${m.offset}`).sort(),
    );
    const chunks = await environment.cassandra.execute(
      `SELECT chunk_set FROM ${ks}.compressed_history_chunk_sets WHERE profile_id = ?`,
      [victim],
      { prepare: true },
    );
    expect(chunks.rowLength).toBe(1); // the empty version's set only
    const continueWatching = await getJson(`${api.url}/v1/profiles/${victim}/continue-watching`, auth.recommender);
    expect(continueWatching.body.records.map((r: { titleId: string }) => r.titleId)).toEqual([afterMarkTitle]);

    const { status, lines } = await readExport(
      api.url,
      `since=${new Date(now - 5 * DAY).toISOString()}`,
      auth.recommender,
    );
    expect(status).toBe(200);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'end', failures: 0 });
    expect(lines.filter((l) => l.profileId === victim && l.type === 'record')).toHaveLength(1);
    expect(JSON.stringify(lines)).toContain(afterMarkTitle);
    expect(lines.filter((l) => l.profileId === bystander && l.type === 'record')).toHaveLength(4);
    expect(await titlesOf(bystander)).toEqual(bystanderBefore);
    // Read once ingest is past every event (the copies too): a dead letter of any is on its topic by then.
    await untilIngestCaughtUp(environment.kafka, environment.config);
    const dead = await readTopicToEnd(environment.kafka, environment.config.kafka.deadLetterTopic);
    expect(dead).toEqual([]);
  });

  it('lets the profile start afresh: events after the erasure are its new history', async () => {
    // Once the collector's cached key expired (PROFILE_KEYS_CACHE_MS), new events get a new key.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await postSession(victim, 'fresh-title', now - 40 * 60_000);
    await eventually(
      async () => expect((await titlesOf(victim)).sort()).toEqual([afterMarkTitle, 'fresh-title'].sort()),
      60_000,
      500,
    );
  });

  it('a replay into a new keyspace and a raw read of the log with the keys reveal none of the erased titles', async () => {
    // The old key is destroyed once its grace is over and ingest committed past every event sealed with it.
    await eventually(async () => expect(await shreddingRows(victim)).toEqual([]), 60_000, 500);
    const target = `${environment.config.cassandra.keyspace}_replay`;
    const replay = await runCli(['replay', '--keyspace', target], environment.env, 180_000);
    expect(replay.stderr).not.toMatch(/Error/);
    expect(replay.status).toBe(0);
    const report = JSON.parse(replay.stdout);
    expect(report.erased).toBe(victimSealed);
    expect(report.unprocessable).toBe(0);
    const rows = await environment.cassandra.execute(`SELECT profile_id, title_id FROM ${target}.live_history`, [], {
      fetchSize: 100_000,
    });
    const titles = (profileId: string) =>
      rows.rows
        .filter((r) => r.get('profile_id') === profileId)
        .map((r) => r.get('title_id'))
        .filter(Boolean);
    // The old key is gone by now: the stale-key messages count as erased, their copies are read.
    expect(titles(victim).every((t) => t === 'fresh-title' || t === afterMarkTitle)).toBe(true);
    expect(titles(victim).filter((t) => t === afterMarkTitle)).toHaveLength(afterMarkEvents);
    expect(new Set(titles(bystander))).toEqual(new Set(['public-old-title', 'public-new-title']));

    // Anyone holding the log and the keys (an operator, a restore) opens nothing of the erased past.
    const raw = await readTopic(environment.kafka, environment.config.kafka.eventTopic, messagesOnLog);
    const fresh = standaloneProfileKeys(environment.config, 'e2e-audit');
    try {
      const opened = await fresh.opener.open(raw.map((m) => ({ ...m, timestamp: String(Date.now()) })));
      const readable = opened.flatMap((o) => (o.kind === 'event' && 'titleId' in o.event ? [o.event.titleId] : []));
      for (const title of secretTitles) expect(readable).not.toContain(title);
      expect(readable).toContain('fresh-title');
      expect(readable).toContain(afterMarkTitle);
      expect(readable).toContain('public-old-title');
    } finally {
      await fresh.close();
      await environment.cassandra.execute(`DROP KEYSPACE IF EXISTS ${target}`);
    }
  });

  it('an event after the mark that ingest writes before the API erases what is stored survives: log order bounds the erasure', async () => {
    const racer = uniqueProfileId('racer');
    const { eventTopic } = environment.config.kafka;
    await postSession(racer, 'racer-before', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(racer)).toEqual(['racer-before']), 60_000, 500);
    // The API's erasure in this process, its publish slow: after the mark, the member's next event (sealed
    // with the profile's new key) is on the log and in the live table before the publish returns.
    const real = new ViewingEventPublisher(environment.config);
    const slowPublisher = {
      publishEncoded: async (messages: { key: string; value: string | Buffer }[], requestId?: string) => {
        const at = await real.publishEncoded(messages, requestId);
        const next = syntheticHistory(1, 1, now - 30 * 60_000).map((e) => ({
          ...e,
          profileId: racer,
          titleId: 'racer-after',
        }));
        const values = await sealer.seal(next);
        await produce(
          environment.kafka,
          eventTopic,
          next.map((_, i) => ({ key: racer, value: values[i] })),
        );
        await eventually(async () => expect(await titlesOf(racer)).toEqual(['racer-after']), 60_000, 500);
        return at;
      },
    } as unknown as ViewingEventPublisher;
    const ledger = new ErasureLedger(stores.client, environment.config);
    const eraser = new StoredHistoryEraser(stores.client, environment.config, stores.compressed, stores.activity);
    try {
      await new ProfileErasure(keys.keys, slowPublisher, eraser, ledger, inProgress(), environment.config).erase(racer);
    } finally {
      await real.onApplicationShutdown();
    }
    // Invariant 1: the event after the mark counts, whenever the API's own erasure ran.
    expect(await titlesOf(racer)).toEqual(['racer-after']);
  });

  // Review, session 6: the API's erasure deleted the activity-index rows dated by its own clock: an API clock
  // ahead left tombstones that shadowed ingest's index rows for events after the mark (invariant 6); the
  // profile's new history was then never found by compaction or the export. Ingest deletes them at the mark.
  it("an API whose clock runs an hour ahead erases no index row of the profile's new history", async () => {
    const ahead = uniqueProfileId('ahead');
    const { eventTopic } = environment.config.kafka;
    await postSession(ahead, 'ahead-before', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(ahead)).toEqual(['ahead-before']), 60_000, 500);
    const hourAhead = types.Long.fromNumber(Date.now() + HOUR).multiply(1000);
    const skewed = new Proxy(stores.client, {
      get(target, prop) {
        if (prop === 'execute') {
          return (query: string, params: unknown[], options: Record<string, unknown>) =>
            target.execute(
              query,
              params,
              /^DELETE/.test(query) && !/USING TIMESTAMP/.test(query) ? { ...options, timestamp: hourAhead } : options,
            );
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Client;
    const publisher = new ViewingEventPublisher(environment.config);
    const ledger = new ErasureLedger(stores.client, environment.config);
    const eraser = new StoredHistoryEraser(skewed, environment.config, stores.compressed, stores.activity);
    try {
      await new ProfileErasure(keys.keys, publisher, eraser, ledger, inProgress(), environment.config).erase(ahead);
    } finally {
      await publisher.onApplicationShutdown();
    }
    const [next] = syntheticHistory(1, 1, now - 20 * 60_000).map((e) => ({
      ...e,
      profileId: ahead,
      titleId: 'ahead-after',
    }));
    await produce(environment.kafka, eventTopic, [{ key: ahead, value: (await sealer.seal([next]))[0] }]);
    await eventually(async () => expect(await titlesOf(ahead)).toEqual(['ahead-after']), 60_000, 500);
    const indexed = await environment.cassandra.execute(
      `SELECT profile_id FROM ${environment.config.cassandra.keyspace}.profile_activity WHERE day = ? AND shard = ? AND profile_id = ?`,
      [types.LocalDate.fromString(dayOf(next.occurredAt)), shardOf(ahead), ahead],
      { prepare: true },
    );
    expect(indexed.rowLength).toBe(1);
  });

  it('re-drive refuses dead letters of an erased profile accepted before its mark, sealed or plain; later ones go', async () => {
    const lettered = uniqueProfileId('lettered');
    const { eventTopic } = environment.config.kafka;
    const deadLetters = async () => {
      const page = await getJson(`${api.url}/v1/admin/dead-letters?limit=1000`, auth.operator);
      expect(page.status).toBe(200);
      return page.body.deadLetters as { id: string; key: string; payload: string; payloadEncoding: BufferEncoding }[];
    };
    const redrive = (body: unknown) => postJson(`${api.url}/v1/admin/dead-letters/redrive`, body, auth.operator);
    const invalidFor = (profileId: string, tag: string) => {
      const [event] = syntheticHistory(1, 1, now - 30 * 60_000);
      return { ...event, profileId, titleId: `${tag}-title`, type: 'no-such-type' } as unknown as ViewingEvent;
    };
    const letterOf = async (tag: string | Buffer) =>
      eventually(async () => {
        const found = (await deadLetters()).find((l) =>
          typeof tag === 'string' ? l.payload.includes(tag) : Buffer.from(l.payload, l.payloadEncoding).equals(tag),
        );
        expect(found).toBeDefined();
        return found!;
      }, 60_000);

    // Before the erasure: a sealed letter (with the profile's key) and a plain one; a bystander's plain one.
    await postSession(lettered, 'lettered-title', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(lettered)).toHaveLength(1), 60_000, 500);
    const [sealedValue] = await sealer.seal([invalidFor(lettered, 'sealed-letter')]);
    const plainBefore = JSON.stringify({ ...invalidFor(lettered, 'plain-before'), tag: 'plain-before' });
    const plainBystander = JSON.stringify({ ...invalidFor(bystander, 'plain-bystander'), tag: 'plain-bystander' });
    await produce(environment.kafka, eventTopic, [
      { key: lettered, value: sealedValue },
      { key: lettered, value: plainBefore },
      { key: bystander, value: plainBystander },
    ]);
    const sealedLetter = await letterOf(Buffer.from(sealedValue));
    const plainLetter = await letterOf('plain-before');
    const bystanderLetter = await letterOf('plain-bystander');

    expect((await erase(lettered, auth.operator)).status).toBe(202);
    // After the erasure: a plain letter of the profile's new life.
    await produce(environment.kafka, eventTopic, [
      { key: lettered, value: JSON.stringify({ ...invalidFor(lettered, 'plain-after'), tag: 'plain-after' }) },
    ]);
    const afterLetter = await letterOf('plain-after');

    for (const letter of [sealedLetter, plainLetter]) {
      const refused = await redrive({ ids: [letter.id, bystanderLetter.id] });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'redrive_refused' });
      expect(refused.body.issues).toEqual([{ field: letter.id, message: expect.stringMatching(/erased/) }]);
    }
    expect((await redrive({ ids: [bystanderLetter.id, afterLetter.id] })).status).toBe(200);
    const all = await redrive({ all: true });
    expect(all.status).toBe(200);
    expect(all.body.refused.map((r: { id: string }) => r.id).sort()).toEqual([sealedLetter.id, plainLetter.id].sort());
    expect(all.body.redriven.map((r: { id: string }) => r.id)).toEqual(
      expect.arrayContaining([bystanderLetter.id, afterLetter.id]),
    );
    expect(all.body.redriven.map((r: { id: string }) => r.id)).not.toContain(sealedLetter.id);

    // The CLI refuses alike.
    const cli = await runCli(['dead-letters', 'redrive', sealedLetter.id], environment.env, 60_000);
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toMatch(/erased/);

    // An erasure in progress (its key step done, its mark not recorded yet) is transient: a 409 of its own.
    const erasing = uniqueProfileId('erasing');
    await keys.keys.current(erasing);
    await produce(environment.kafka, eventTopic, [
      { key: erasing, value: JSON.stringify({ ...invalidFor(erasing, 'plain-erasing'), tag: 'plain-erasing' }) },
    ]);
    const erasingLetter = await letterOf('plain-erasing');
    await keys.keys.erase(erasing);
    const deferred = await redrive({ ids: [erasingLetter.id] });
    expect(deferred.status).toBe(409);
    expect(deferred.headers.get('retry-after')).toBe('5');
    expect(deferred.body).toMatchObject({ error: 'erasure_in_progress' });
    expect(deferred.body.issues).toEqual([{ field: erasingLetter.id, message: expect.stringMatching(/in progress/) }]);
  });

  // Review, session 6: re-drive checks a letter and then sends it; an erasure starting in between puts its mark
  // before the copy. The copy names where its original lay: ingest erases it by log order.
  it("a re-driven copy that lands after an erasure's mark but whose original lay before it is erased by ingest", async () => {
    const late = uniqueProfileId('redriven-late');
    const { eventTopic } = environment.config.kafka;
    await postSession(late, 'late-before', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(late)).toEqual(['late-before']), 60_000, 500);
    expect((await erase(late, auth.operator)).status).toBe(202);
    const [mark] = (await new ErasureLedger(stores.client, environment.config).erasures(late)).map((e) => e.mark);
    expect(mark).not.toBeNull();
    const session = (titleId: string, startedAt: number) =>
      syntheticHistory(1, 1, startedAt).map((e) => ({ ...e, profileId: late, titleId }));
    const source = `${mark!.topic}/${mark!.partition}/${BigInt(mark!.offset) - 1n}`;
    await produce(environment.kafka, eventTopic, [
      ...session('late-redriven', now - 40 * 60_000).map((e) => ({
        key: late,
        value: encodeViewingEvent(e),
        headers: { [HEADERS.redrivenFrom]: 'dead-letters/0/0', [HEADERS.redrivenSource]: source },
      })),
      ...session('late-after', now - 20 * 60_000).map((e) => ({ key: late, value: encodeViewingEvent(e) })),
    ]);
    await eventually(async () => expect(await titlesOf(late)).toContain('late-after'), 60_000, 500);
    expect(await titlesOf(late)).toEqual(['late-after']);
  });

  it('an ingest down for longer than the grace still gets the events sealed with the old key after the mark; the key goes once ingest is past them', async () => {
    const lagging = uniqueProfileId('lagging');
    await postSession(lagging, 'lagging-old-title', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(lagging)).toHaveLength(1), 60_000, 500);
    const inFlight = syntheticHistory(1, 1, now - 40 * 60_000).map((e) => ({
      ...e,
      profileId: lagging,
      titleId: 'lagging-after-mark-title',
    }));
    const values = await sealer.seal(inFlight);
    await ingest.stop();
    expect((await erase(lagging, auth.operator, { confirm: lagging })).status).toBe(202);
    await produce(
      environment.kafka,
      environment.config.kafka.eventTopic,
      inFlight.map((e, i) => ({ key: e.profileId, value: values[i] })),
    );
    messagesOnLog += 1 + 2 * inFlight.length;
    // The grace (PROFILE_KEYS_SHREDDING_MS, 4 s here) ends while ingest is down: the key must stay.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(await shreddingRows(lagging)).toHaveLength(1);
    ingest = await AppProcess.start('ingest', environment.env);
    await eventually(async () => expect(await titlesOf(lagging)).toEqual(['lagging-after-mark-title']), 60_000, 500);
    // Ingest is past every event sealed with it: the key is destroyed.
    await eventually(async () => expect(await shreddingRows(lagging)).toEqual([]), 60_000, 500);
  });

  it('two erasures of one profile at once: one shredding row per key, owned by an erasure the ledger names with that key', async () => {
    const profiles = Array.from({ length: 8 }, () => uniqueProfileId('race'));
    const created = new Map<string, string>();
    for (const profileId of profiles) created.set(profileId, (await keys.keys.current(profileId)).keyId);
    const [first, second] = [
      standaloneProfileKeys(environment.config, 'e2e-race-1'),
      standaloneProfileKeys(environment.config, 'e2e-race-2'),
    ];
    try {
      await Promise.all(profiles.flatMap((profileId) => [first.keys.erase(profileId), second.keys.erase(profileId)]));
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
    const ks = environment.config.profileKeys.keyspace;
    for (const profileId of profiles) {
      expect(await new CassandraProfileKeyStore(environment.cassandra, environment.config).read(profileId)).toEqual([]);
      const rows = await shreddingRows(profileId);
      expect(rows).toEqual([{ keyId: created.get(profileId), erasureId: expect.any(String) }]);
      const ledger = await environment.cassandra.execute(
        `SELECT erasure_id, key_id, key_ids FROM ${ks}.profile_erasures WHERE profile_id = ?`,
        [profileId],
        { prepare: true },
      );
      const named = ledger.rows.find((r) => String(r.get('erasure_id')) === rows[0].erasureId);
      expect(named && erasedKeyIds(named)).toEqual([created.get(profileId)]);
    }
  });
  // Review, session 6: destroyShredding was a plain DELETE (the client's timestamp) on a row otherwise written by
  // LWT (Paxos ballot timestamps, the coordinator's clock): a client clock behind left the row's cells newer than
  // the tombstone, and the key outlived its destruction. Every write to a shredding row is now conditional.
  it("destroying a shredding key removes its row even when the destroying client's clock runs an hour behind Cassandra's", async () => {
    const profileId = uniqueProfileId('half-row');
    const { keyId } = await keys.keys.current(profileId);
    const hourBehind = types.Long.fromNumber(Date.now() - HOUR).multiply(1000);
    const skewed = new Proxy(keys.client, {
      get(target, prop) {
        if (prop === 'execute') {
          return (query: string, params: unknown[], options: Record<string, unknown>) =>
            target.execute(query, params, { ...options, timestamp: hourBehind });
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Client;
    const store = new CassandraProfileKeyStore(skewed, environment.config);
    const erasureId = randomUUID();
    const [stored] = await store.read(profileId);
    await store.putShredding(profileId, { keyId, wrapped: stored.wrapped, erasureId: erasureId }, 1000);
    await eventually(async () => expect((await store.listShredding(profileId))[0].inGrace).toBe(false), 10_000, 200);
    expect(await store.recordFence(profileId, keyId, erasureId, { partition: 0, offset: '1' })).toBe(true);
    await store.destroyShredding(profileId, keyId);
    expect(await shreddingRows(profileId)).toEqual([]);
  });

  // Session 8 (ADR 9's known gap): an erasure whose API process died or stalled after its key step stayed in
  // progress until someone erased the profile again: its stored history readable, its key kept. Ingest now
  // finishes it once its lease (PROFILE_ERASURE_LEASE_MS, a Cassandra TTL) ran out, through the API's own path;
  // seen failing before (the history was still readable 30 s later).
  it('an erasure whose API stalled after its key step is finished by ingest once its lease ran out; the API waking late stops', async () => {
    const abandoned = uniqueProfileId('abandoned');
    await postSession(abandoned, 'abandoned-before', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(abandoned)).toEqual(['abandoned-before']), 60_000, 500);
    // The API's process stalls once it moved the key, before erasing what is stored.
    const { erasureId, ledger, result: original, paused, wake, end } = stalledErasure(abandoned, 'stored-history');
    try {
      await eventually(async () => expect(paused()).toBe(true), 10_000, 100);
      expect((await ledger.erasures(abandoned)).find((e) => e.erasureId === erasureId)?.pending).toBe(true);
      // Ingest finishes it: the lease (5 s here), then a sweep or two.
      await eventually(async () => expect(await titlesOf(abandoned)).toEqual([]), 30_000, 500);
      await eventually(
        async () => expect((await ledger.erasures(abandoned)).filter((e) => e.pending || e.mark === null)).toEqual([]),
        10_000,
        500,
      );
      // The erasure ends the rows it took over after recording its mark: wait for both deletes.
      await eventually(async () => expect(await inProgress().of(abandoned)).toEqual([]), 15_000, 500);
      const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
      expect(metrics).toMatch(/viewing_history_profile_erasures_total\{by="finisher"\} [1-9]/);
      // The member's next session is the new history; the API waking now must not erase it.
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // the collector's cached key expires
      await postSession(abandoned, 'abandoned-after', now - 40 * 60_000);
      await eventually(async () => expect(await titlesOf(abandoned)).toEqual(['abandoned-after']), 60_000, 500);
      wake();
      expect(await original).toBeInstanceOf(ErasureInProgressError);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await titlesOf(abandoned)).toEqual(['abandoned-after']);
    } finally {
      await end();
    }
  });

  // ADR 9's gap left by session 8 (review of issue 15, item 4): an API that renewed its lease and stalled past it
  // before publishing its mark was taken over and finished by ingest; its mark, published when it woke, erased
  // the member's history acknowledged since (invariant 2). Ingest now finds it superseded: it erases nothing.
  it('an API that stalled past its lease just before publishing its mark, waking after ingest finished its erasure: its late mark erases nothing', async () => {
    const late = uniqueProfileId('late-mark');
    await postSession(late, 'late-before', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(late)).toEqual(['late-before']), 60_000, 500);
    // The API's process stalls after its last renewal, on its way to publish the mark.
    const { erasureId, ledger, result: original, paused, wake, end } = stalledErasure(late, 'publish');
    try {
      await eventually(async () => expect(paused()).toBe(true), 10_000, 100);
      // Ingest's finisher takes it over once its lease ran out, and puts and records its own mark for it.
      await eventually(
        async () => expect((await ledger.erasures(late)).find((e) => e.erasureId === erasureId)?.mark).not.toBeNull(),
        30_000,
        500,
      );
      await eventually(async () => expect(await inProgress().of(late)).toEqual([]), 15_000, 500);
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // the collector's cached key expires
      await postSession(late, 'late-after', now - 40 * 60_000);
      await eventually(async () => expect(await titlesOf(late)).toEqual(['late-after']), 60_000, 500);
      // The API wakes and publishes its mark, after the member's new session: done (its taker's mark is on the
      // log and the profile has no erasure in progress), as its 202 may say.
      wake();
      expect(await original).toMatchObject({ erasureId });
      // Both marks are on the log: the ledger records the finisher's after it, the API resolved after its own.
      const marks = (await readTopicToEnd(environment.kafka, environment.config.kafka.eventTopic))
        .filter((m) => m.key?.toString('utf8') === late)
        .map((m) => classifyMessage(m.value))
        .filter((c) => c.kind === 'profile-erased');
      expect(marks).toHaveLength(2); // the finisher's, then the late one
      // A session after the late mark: once it is stored, ingest has been past the late mark.
      await postSession(late, 'late-sentinel', now - 30 * 60_000);
      await eventually(async () => expect(await titlesOf(late)).toEqual(['late-after', 'late-sentinel']), 60_000, 500);
      // A repair rebuilds the profile from the log the same way: the late mark clears nothing there either.
      const repair = await runCli(['repair', '--profile', late], environment.env);
      expect(repair.status).toBe(0);
      expect(await titlesOf(late)).toEqual(['late-after', 'late-sentinel']);
    } finally {
      await end();
    }
  });

  // Review of session 8: a retry renewed its own lease only, so an erasure it took over could run out again and
  // be taken from it while it ran. Its renewal is one conditional batch over its rows: all renewed or none.
  it("a retry's renewal renews the erasures it took over with its own, all or none; a release ends its owner's leases only, on the real Cassandra", async () => {
    const profileId = uniqueProfileId('renewal');
    const [abandoned, retry, other] = [randomUUID(), randomUUID(), randomUUID()];
    // A keys keyspace of its own: ingest's finisher (sweeping every 500 ms here) would take the abandoned row
    // over before the test does (seen once: the test's take-over then did not apply).
    const config = loadConfig({
      ...process.env,
      ...environment.env,
      PROFILE_KEYS_KEYSPACE: `${environment.config.profileKeys.keyspace}_rows`,
    });
    await migrateProfileKeys(keys.client, config);
    const rows = new CassandraErasuresInProgress(keys.client, config);
    try {
      await rows.begin(profileId, abandoned, 1_000);
      await eventually(async () => expect((await rows.of(profileId))[0].leased).toBe(false), 10_000, 200);
      expect(await rows.takeOver(profileId, abandoned, abandoned, retry, 60_000)).toBe(true);
      await rows.begin(profileId, retry, 60_000);
      expect(await rows.hold(profileId, retry, 60_000, [abandoned])).toBe(true);
      expect((await rows.of(profileId)).map((e) => [e.erasureId, e.owner, e.leased]).sort()).toEqual(
        [
          [abandoned, retry, true],
          [retry, retry, true],
        ].sort(),
      );
      // An erasure it does not own among them (another's): nothing is renewed, and the retry stops.
      await rows.begin(profileId, other, 60_000);
      expect(await rows.hold(profileId, retry, 60_000, [abandoned, other])).toBe(false);
      expect(await rows.hold(profileId, other, 60_000, [abandoned])).toBe(false);
      // Released (session 14: a failed or refused erasure) by its owner only, each on its own: the lease is gone at
      // once, so a retry takes it over without waiting it out.
      await rows.release(profileId, other, [abandoned, other]);
      expect((await rows.of(profileId)).map((e) => [e.erasureId, e.owner, e.leased]).sort()).toEqual(
        [
          [abandoned, retry, true],
          [other, other, false],
          [retry, retry, true],
        ].sort(),
      );
      expect(await rows.takeOver(profileId, other, other, retry, 60_000)).toBe(true);
      // Ended only by the owner read (a stale one ends nothing), then by the right ones.
      await rows.end(profileId, abandoned, abandoned);
      expect((await rows.of(profileId)).map((r) => r.erasureId)).toContain(abandoned);
      for (const [id, owner] of [
        [abandoned, retry],
        [retry, retry],
        [other, retry],
      ])
        await rows.end(profileId, id, owner);
      // A release never brings an ended note back.
      await rows.release(profileId, retry, [retry, other]);
      expect(await rows.of(profileId)).toEqual([]);
    } finally {
      await dropKeyspace(keys.client, config.profileKeys.keyspace);
    }
  });

  // ADR 9 known gap (session 6 review), closed in session 8: a partition moved to another ingest while its
  // previous owner, stalled, still finished the batch with an erasure mark. The new owner met the same mark,
  // erased, and wrote the index rows of the profile's new history; the old owner's delete landed after that,
  // and the new owner, remembering them, did not write them again for an hour (compaction and the export's
  // walk missed the profile). It now reads the erasure markers before trusting what it remembers.
  it("the new owner of a partition writes again the new history's index rows its stalled previous owner deleted late", async () => {
    const moved = uniqueProfileId('moved');
    const other = uniqueProfileId('moved-other');
    const ks = environment.config.cassandra.keyspace;
    const owner = (activity: ProfileActivityIndex) =>
      new StoredHistoryEraser(stores.client, environment.config, stores.compressed, activity);
    const [newOwner, oldOwner] = [
      new ProfileActivityIndex(stores.client, environment.config),
      new ProfileActivityIndex(stores.client, environment.config),
    ];
    const newHistory = { profileId: moved, occurredAt: Date.now() - 30 * 60_000 };
    const indexed = async () =>
      (
        await environment.cassandra.execute(
          `SELECT profile_id FROM ${ks}.profile_activity WHERE day = ? AND shard = ? AND profile_id = ?`,
          [types.LocalDate.fromString(dayOf(newHistory.occurredAt)), shardOf(moved), moved],
          { prepare: true },
        )
      ).rowLength;
    // The new owner meets the mark (erases), then writes the new history's row and remembers it.
    await owner(newOwner).erase(moved);
    expect((await newOwner.recordMany([newHistory], 4)).size).toBe(0);
    expect(await indexed()).toBe(1);
    // The old owner, stalled in the same batch, erases only now.
    await owner(oldOwner).erase(moved);
    expect(await indexed()).toBe(0);
    // The new owner's next batch (of another profile, a few seconds later) writes it again.
    expect(
      (await newOwner.recordMany([{ profileId: other, occurredAt: Date.now() }], 4, Date.now() + 6_000)).size,
    ).toBe(0);
    expect(await indexed()).toBe(1);
  });

  // Pre-region keys (docs/adr/0012): created before the upgrade, or by a collector of the old version during it,
  // even after the migration ran. A profile met by both versions holds a region key and a pre-region key: both
  // open, and an erasure shreds both (two conditional deletes, one ledger row naming both).
  // Review of issue 15 (session 13, item 1): a key created after the erasure's last read of the keys and before
  // its mark (here another region's collector meeting the profile while the stored history is erased) stayed
  // current, and what it sealed before the mark stayed readable on the log for anyone with the keys. The erasure
  // now bounds it by its mark: it stays the profile's key (the new history's), opening only what lies after.
  it('a key created while the erasure runs: what it sealed before the mark stays unreadable on the log, what it seals after opens', async () => {
    const profileId = uniqueProfileId('key-during');
    const { eventTopic } = environment.config.kafka;
    const otherRegion = new CassandraProfileKeyStore(
      keys.client,
      environment.config.with({ cassandra: { localDataCenter: 'other-region' } }),
    );
    const otherRegionsSealer = new ProfileKeySealer(
      new ProfileKeys(otherRegion, environment.config),
      environment.config,
    );
    const eventOf = (titleId: string, minutesAgo: number) =>
      syntheticHistory(1, 1, now - minutesAgo * 60_000).map((e) => ({ ...e, profileId, titleId }))[0];
    await postSession(profileId, 'before-title', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(profileId)).toEqual(['before-title']), 60_000, 500);
    const real = new StoredHistoryEraser(stores.client, environment.config, stores.compressed, stores.activity);
    const eraser = {
      erase: async (id: string, options: Parameters<StoredHistoryEraser['erase']>[1]) => {
        // After the key step: the other region's collector creates its key and publishes before the mark.
        const [during] = await otherRegionsSealer.seal([eventOf('during-title', 40)]);
        await produce(environment.kafka, eventTopic, [{ key: profileId, value: during }]);
        return real.erase(id, options);
      },
    } as unknown as StoredHistoryEraser;
    const publisher = new ViewingEventPublisher(environment.config);
    try {
      const ledger = new ErasureLedger(stores.client, environment.config);
      await new ProfileErasure(keys.keys, publisher, eraser, ledger, inProgress(), environment.config).erase(profileId);
    } finally {
      await publisher.onApplicationShutdown();
    }
    // The same collector, its key cached, after the erasure: the new history.
    const [after] = await otherRegionsSealer.seal([eventOf('after-title', 30)]);
    await produce(environment.kafka, eventTopic, [{ key: profileId, value: after }]);
    await eventually(async () => expect(await titlesOf(profileId)).toEqual(['after-title']), 60_000, 500);
    // A raw read of the log with the keys, in its order, as a replay or an auditor would: all of the profile's
    // messages were acknowledged above (the session and 'after' ingested, 'during' and the mark awaited).
    const raw = (await readTopicToEnd(environment.kafka, eventTopic)).filter(
      (m) => m.key?.toString('utf8') === profileId,
    );
    const audit = standaloneProfileKeys(environment.config, 'e2e-key-during-audit');
    try {
      const at = { topic: eventTopic, partition: raw[0].partition };
      const opened = await audit.opener.open(
        raw.map((m) => ({ ...m, timestamp: '0' })),
        at,
      );
      const titles = opened.flatMap((o) => (o.kind === 'event' && 'titleId' in o.event ? [o.event.titleId] : []));
      expect(titles).toEqual(['after-title']);
      expect(opened.filter((o) => o.kind === 'erased').length).toBeGreaterThanOrEqual(5); // 4 before, 1 during
    } finally {
      await audit.close();
    }
  });

  // Review of the bound (session 13): its conditional writes on the real Cassandra, both tables.
  it("a key's bounds on the real Cassandra: set, raised, never lowered, one a partition, never on a replaced or deleted key", async () => {
    const profileId = uniqueProfileId('bound');
    const ks = environment.config.profileKeys.keyspace;
    const store = new CassandraProfileKeyStore(keys.client, environment.config);
    const regional = await new ProfileKeys(store, environment.config).current(profileId);
    const preRegionKeyId = randomUUID();
    await environment.cassandra.execute(
      `INSERT INTO ${ks}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [profileId, preRegionKeyId, Buffer.alloc(8), new Date()],
      { prepare: true },
    );
    const dc = environment.config.cassandra.localDataCenter;
    const bounds = async () =>
      Object.fromEntries(
        (await store.read(profileId, { serial: true })).map((k) => [
          k.datacenter ?? 'pre-region',
          [...k.opensAfter].sort((a, b) => a.partition - b.partition),
        ]),
      );
    const at = (partition: number, offset: string) => ({ topic: 'events', partition, offset });
    expect(await bounds()).toEqual({ [dc]: [], 'pre-region': [] });
    for (const key of [
      { keyId: regional.keyId, datacenter: dc },
      { keyId: preRegionKeyId, datacenter: null },
    ]) {
      await store.bound(profileId, key, at(2, '10'));
      await store.bound(profileId, key, at(2, '7'));
      await store.bound(profileId, key, at(2, '12'));
      await store.bound(profileId, key, at(5, '99'));
      await store.bound(profileId, { ...key, keyId: randomUUID() }, at(2, '20'));
    }
    const both = [at(2, '12'), at(5, '99')];
    expect(await bounds()).toEqual({ [dc]: both, 'pre-region': both });
    expect(await store.deleteIf(profileId, { keyId: regional.keyId, datacenter: dc })).toBe(true);
    await store.bound(profileId, { keyId: regional.keyId, datacenter: dc }, at(2, '30'));
    expect(await bounds()).toEqual({ 'pre-region': both });
  });

  // Review of the bound (session 13): a build deployed before `migrate` added the bounds' column reads keys as
  // unbounded and bounds nothing, rather than failing every key read (an outage) or stalling ingest at every mark;
  // and once `migrate` ran, the same process reads and writes bounds (nothing remembered from before).
  it("keys without the bounds' column (deployed before migrate): read unbounded, bound nothing, then bounds once migrated", async () => {
    const config = loadConfig({
      ...process.env,
      ...environment.env,
      PROFILE_KEYS_KEYSPACE: `${environment.config.profileKeys.keyspace}_unmigrated`,
    });
    await migrateProfileKeys(keys.client, config);
    const ks = config.profileKeys.keyspace;
    try {
      for (const table of ['profile_region_keys', 'profile_keys'])
        await keys.client.execute(`ALTER TABLE ${ks}.${table} DROP opens_after_marks`);
      const store = new CassandraProfileKeyStore(keys.client, config);
      const profileKeys = new ProfileKeys(store, config);
      const profileId = uniqueProfileId('unmigrated');
      const { keyId } = await profileKeys.current(profileId);
      const mark = { topic: 'events', partition: 1, offset: '40' };
      await profileKeys.boundByMark(profileId, mark);
      expect((await store.read(profileId)).map((k) => [k.keyId, k.opensAfter])).toEqual([[keyId, []]]);
      await migrateProfileKeys(keys.client, config);
      await eventually(
        async () => {
          await profileKeys.boundByMark(profileId, mark);
          expect((await store.read(profileId, { serial: true }))[0].opensAfter).toEqual([mark]);
        },
        10_000,
        200,
      );
    } finally {
      await dropKeyspace(keys.client, ks);
    }
  });

  it('a profile holding a region key and a pre-region key: both open, and an erasure shreds both', async () => {
    const profileId = uniqueProfileId('two-keys');
    const ks = environment.config.profileKeys.keyspace;
    const { eventTopic } = environment.config.kafka;
    const rowsOf = async (table: string) =>
      (
        await environment.cassandra.execute(`SELECT key_id FROM ${ks}.${table} WHERE profile_id = ?`, [profileId], {
          prepare: true,
        })
      ).rows.map((r) => String(r.get('key_id')));
    // The collector (this version) meets the profile first: the region's key.
    await postSession(profileId, 'region-key-title', now - 50 * 60_000);
    await eventually(async () => expect(await titlesOf(profileId)).toEqual(['region-key-title']), 60_000, 500);
    const [regionKeyId] = await rowsOf('profile_region_keys');
    // Then a collector of the old version, which knows only profile_keys, creates the pre-region key and seals
    // an event with it.
    const preRegionKeyId = randomUUID();
    const dataKey = newDataKey();
    await environment.cassandra.execute(
      `INSERT INTO ${ks}.profile_keys (profile_id, key_id, wrapped_key, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      [
        profileId,
        preRegionKeyId,
        seal(environment.config.profileKeys.masterKey, dataKey, `profile-key\n${profileId}\n${preRegionKeyId}`),
        new Date(),
      ],
      { prepare: true },
    );
    const [old] = syntheticHistory(1, 1, now - 45 * 60_000).map((e) => ({
      ...e,
      profileId,
      titleId: 'pre-region-key-title',
    }));
    const sealedOld = encodeSealedEnvelope({
      profileId,
      keyId: preRegionKeyId,
      payload: seal(dataKey, encodeViewingEvent(old), sealContext(profileId, preRegionKeyId)),
    });
    await produce(environment.kafka, eventTopic, [{ key: profileId, value: sealedOld }]);
    await eventually(
      async () => expect(await titlesOf(profileId)).toEqual(['pre-region-key-title', 'region-key-title']),
      60_000,
      500,
    );
    expect(await rowsOf('profile_region_keys')).toEqual([regionKeyId]);
    expect(await rowsOf('profile_keys')).toEqual([preRegionKeyId]);

    expect((await erase(profileId, auth.operator)).status).toBe(202);
    expect(await titlesOf(profileId)).toEqual([]);
    expect(await rowsOf('profile_region_keys')).toEqual([]);
    expect(await rowsOf('profile_keys')).toEqual([]);
    const shredded = await shreddingRows(profileId);
    expect(shredded.map((r) => r.keyId).sort()).toEqual([regionKeyId, preRegionKeyId].sort());
    expect(new Set(shredded.map((r) => r.erasureId)).size).toBe(1);
    const ledger = await environment.cassandra.execute(
      `SELECT erasure_id, key_id, key_ids FROM ${ks}.profile_erasures WHERE profile_id = ?`,
      [profileId],
      { prepare: true },
    );
    expect(ledger.rows.map((r) => [String(r.get('erasure_id')), erasedKeyIds(r).sort()])).toEqual([
      [shredded[0].erasureId, [regionKeyId, preRegionKeyId].sort()],
    ]);
    // Processes of the old version read key_id alone, and know only pre-region keys: it names that one.
    expect(String(ledger.rows[0].get('key_id'))).toBe(preRegionKeyId);

    // Neither key opens what was sealed before the erasure: a raw read of the log, with the keys, shows no title.
    // All of it is on the log: the events were ingested, and the 202 came after the mark's write.
    const raw = (await readTopicToEnd(environment.kafka, eventTopic)).filter(
      (m) => m.key?.toString('utf8') === profileId,
    );
    expect(raw.length).toBeGreaterThanOrEqual(6); // the session, the old collector's event, the mark
    const keyIds = raw
      .map((m) => classifyMessage(m.value))
      .flatMap((c) => (c.kind === 'sealed' ? [c.envelope.keyId] : []));
    expect(keyIds).toContain(regionKeyId);
    expect(keyIds).toContain(preRegionKeyId);
    const audit = standaloneProfileKeys(environment.config, 'e2e-two-keys-audit');
    try {
      // No offsets: an erased key still shredding opens nothing (only events after its mark, by offset).
      const opened = await audit.opener.open(raw.map((m) => ({ ...m, timestamp: '0' })));
      expect(opened.filter((o) => o.kind === 'event' && 'titleId' in o.event)).toEqual([]);
      expect(opened.filter((o) => o.kind === 'erased')).toHaveLength(5);
      for (const keyId of [regionKeyId, preRegionKeyId]) expect(await audit.keys.byId(profileId, keyId)).toBeNull();
    } finally {
      await audit.close();
    }

    // An erasure of a profile without any key names none (and stays in progress until its mark is recorded).
    const keyless = uniqueProfileId('keyless');
    await keys.keys.erase(keyless);
    expect(await new ErasureLedger(stores.client, environment.config).erasures(keyless)).toEqual([
      { erasureId: expect.any(String), mark: null, pending: true },
    ]);
  });
});
