import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { AppConfig } from '@vh/config';
import { DependencyUnavailableError, foldHistory, PlaybackEvent, visibleRecords } from '@vh/domain';
import { CompressedHistoryRepository, emptyVersion } from '@vh/storage';
import { toView } from '../apps/api/src/history/history-request';
import { CHECKOUT_ROOT } from './support/app-process';
import { AppStack } from './support/app-stack';
import { eventually } from './support/eventually';
import { uniqueProfileId, watchSession, WirePlaybackEvent } from './support/playback-events';
import { EVACUATION_PORTS, PrivateRegions, RegionName } from './support/private-regions';
import { TestEnvironment } from './support/test-environment';
import { TestTokens, testTokens } from './support/tokens';

/** Devices per region; each posts a session a tick and reads its history every other tick. */
const DEVICES_PER_REGION = 12;
const TICK_MS = 1_000;
// The clients' failover policy, as a DNS or gateway health check would apply it. The timeout is generous:
// the suites share two cores with other JVMs, and a slow answer is not a dead region.
const REQUEST_TIMEOUT_MS = 5_000;
const RETRY_AFTER_MS = 250;
const FAILURES_BEFORE_FAILOVER = 3;
/** Region A's ingest stops this long before the kill: the acknowledged, not yet ingested tail of its log. */
const INGEST_LAG_MS = 3_000;

interface Acknowledged {
  region: RegionName;
  at: number;
  /** The session's events as posted: the records must be exactly their fold (each event once). */
  events: WirePlaybackEvent[];
}

/** A region's records of a profile (the API's view). */
type RecordView = ReturnType<typeof toView>;

/** A device of one profile, homed in a region, that fails over to the other when its region stops answering. */
interface Device {
  profileId: string;
  home: RegionName;
  base: RegionName;
  headers: Record<string, string>;
  /** Sessions by id: where and when their batch was acknowledged (202). */
  acknowledged: Map<string, Acknowledged>;
  /** A batch not yet acknowledged: sent again, the same events (their ids make a resend harmless). */
  pending: { events: WirePlaybackEvent[] } | null;
  consecutiveFailures: number;
  failedAt: number[];
  switchedAt?: number;
  firstSuccessAfterKill?: number;
  ticks: number;
}

/**
 * Region A is lost outright under load (issue 16 §3, docs/adr/0012 "Evacuation"): its apps, its Cassandra
 * node and its Kafka broker are killed with SIGKILL. The devices fail over to region B after failed
 * attempts, as a DNS or gateway failover would; B serves them, without the part of A's log A had not
 * ingested. When A returns, its ingest drains that tail, hinted handoff brings it B's writes, and both
 * regions answer every profile with the same history: every acknowledged event, each once. Then the link
 * between the datacenters is cut while both regions serve (a partition, docs/adr/0012 "Partition"), and
 * healed: hinted handoff and the messages queued for the peer bring them level, without a repair.
 */
describe('two regions under load: one evacuated, then both cut apart', () => {
  // The datacenters talk through a relay the last step cuts (a partition).
  const regions = new PrivateRegions(join(CHECKOUT_ROOT, '.infra', 'evacuation-e2e'), EVACUATION_PORTS, {
    cuttableLink: true,
  });
  const environment = {} as Record<RegionName, TestEnvironment>;
  const stack = {} as Record<RegionName, AppStack>;
  let auth: TestTokens;
  const devices: Device[] = [];
  let load: Promise<void> | null = null;
  let loadRunning = false;
  let killedAt = 0;
  /** When region A's ingest was stopped: what A acknowledged from then on is what B cannot read until A returns. */
  let ingestStoppedAt = 0;
  /** A moment before that, up to which A's ingest had demonstrably written everything A acknowledged. */
  let caughtUpAt = 0;
  /** What the load saw that it should not have: asserted at the end of each step (a throw would stop a device). */
  const problems: string[] = [];
  const suiteStarted = Date.now();

  const url = (region: RegionName, app: 'collector' | 'api') => stack[region].first(app).url;

  /** Every record of a profile through a region's API, every page. */
  const history = async (region: RegionName, profileId: string) => {
    const records: RecordView[] = [];
    let cursor: string | null = null;
    do {
      const response = await fetch(
        `${url(region, 'api')}/v1/profiles/${profileId}/history?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        { headers: auth.recommender, signal: AbortSignal.timeout(10_000) },
      );
      const body = (await response.json()) as { records: RecordView[]; nextCursor: string | null };
      if (response.status !== 200) throw new Error(`history in ${region} answered ${response.status}`);
      records.push(...body.records);
      cursor = body.nextCursor;
    } while (cursor);
    return records;
  };

  /** One request of a device to its current region; a failure (refused, 5xx, timeout) counts towards failover. */
  const attempt = async (device: Device, request: () => Promise<Response>): Promise<Response | null> => {
    const region = device.base;
    let response: Response | null = null;
    try {
      response = await request();
      await response.arrayBuffer();
    } catch {
      response = null;
    }
    if (response !== null && response.status < 500) {
      device.consecutiveFailures = 0;
      if (killedAt > 0 && device.firstSuccessAfterKill === undefined && region === 'b') {
        device.firstSuccessAfterKill = Date.now();
      }
      return response;
    }
    device.failedAt.push(Date.now());
    if (++device.consecutiveFailures >= FAILURES_BEFORE_FAILOVER && device.base === 'a') {
      device.base = 'b';
      device.switchedAt = Date.now();
      device.consecutiveFailures = 0;
    }
    await new Promise((r) => setTimeout(r, RETRY_AFTER_MS));
    return null;
  };

  const tick = async (device: Device) => {
    if (device.pending === null) {
      const startedAt = Date.now() - 30 * 60_000;
      device.pending = { events: watchSession(device.profileId, `title-${device.ticks % 5}`, startedAt) };
    }
    const batch = device.pending;
    const sessionId = batch.events[0].playbackSessionId;
    const posted = await attempt(device, () =>
      fetch(`${url(device.base, 'collector')}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...device.headers },
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }),
    );
    if (posted === null) return false;
    if (posted.status !== 202) problems.push(`${device.profileId}: post answered ${posted.status}`);
    device.acknowledged.set(sessionId, { region: device.base, at: Date.now(), events: batch.events });
    device.pending = null;
    if (device.ticks++ % 2 === 1) {
      const read = await attempt(device, () =>
        fetch(`${url(device.base, 'api')}/v1/profiles/${device.profileId}/history?limit=200`, {
          headers: device.headers,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        }),
      );
      if (read !== null && read.status !== 200) problems.push(`${device.profileId}: read answered ${read.status}`);
    }
    return true;
  };

  const startLoad = () => {
    loadRunning = true;
    load = Promise.all(
      devices.map(async (device, i) => {
        await new Promise((r) => setTimeout(r, (i * TICK_MS) / devices.length));
        // Once stopped, a device still resends its pending batch until acknowledged: a post that timed out
        // may have been accepted, and only an acknowledged batch is in `acknowledged` (the same eventIds: harmless).
        while (loadRunning || device.pending !== null) {
          const started = Date.now();
          // A failed attempt is retried at once (after RETRY_AFTER_MS), not at the next tick.
          if (await tick(device))
            await new Promise((r) => setTimeout(r, Math.max(0, TICK_MS - (Date.now() - started))));
        }
      }),
    ).then(() => undefined);
  };

  const stopLoad = async () => {
    loadRunning = false;
    await load;
    expect(devices.filter((d) => d.pending !== null)).toEqual([]);
  };

  /** Exactly the fold of a device's acknowledged events: every acknowledged event, each once (ADR 12). */
  const expectedHistory = (device: Device): RecordView[] =>
    visibleRecords(
      foldHistory(
        [...device.acknowledged.values()].flatMap(({ events }) =>
          events.map((e): PlaybackEvent => ({ ...e, occurredAt: Date.parse(e.occurredAt) })),
        ),
      ),
    ).map(toView);

  /** Failed requests per device since `from`, as `profileId: count`, for a readable diff. */
  const failuresSince = (from: number, to = Number.POSITIVE_INFINITY) =>
    Object.fromEntries(devices.map((d) => [d.profileId, d.failedAt.filter((t) => t >= from && t <= to).length]));

  beforeAll(async () => {
    const started = Date.now();
    await regions.start();
    log(`two-region infrastructure started in ${seconds(Date.now() - started)} s`);
    Object.assign(environment, await regions.environments('evacuation'));
    auth = await testTokens();
    // No compactor: what the evacuation costs compaction is the version switch, tried directly below.
    for (const region of ['a', 'b'] as const)
      stack[region] = await AppStack.start(environment[region].env, { collector: 1, ingest: 1, api: 1 });
    for (const home of ['a', 'b'] as const)
      for (let i = 0; i < DEVICES_PER_REGION; i++) {
        const profileId = uniqueProfileId(`home-${home}`);
        devices.push({
          profileId,
          home,
          base: home,
          headers: await auth.device(profileId),
          acknowledged: new Map(),
          pending: null,
          consecutiveFailures: 0,
          failedAt: [],
          ticks: 0,
        });
      }
  }, 600_000);

  afterAll(async () => {
    loadRunning = false;
    await load?.catch(() => undefined);
    // SIGKILL: a graceful stop may wait on a broker that is gone; the state directory is removed anyway.
    await Promise.allSettled([...(stack.a?.members ?? []), ...(stack.b?.members ?? [])].map((member) => member.kill()));
    await Promise.race([
      Promise.allSettled([environment.b?.dispose(), environment.a?.dispose()]),
      new Promise((r) => setTimeout(r, 20_000).unref()),
    ]);
    await regions.dispose();
    log(`suite took ${seconds(Date.now() - suiteStarted)} s`);
  }, 120_000);

  it('serves devices in both regions, then fails them over to region B when region A dies', async () => {
    startLoad();
    await new Promise((r) => setTimeout(r, 6_000));
    const beforeKill = devices.reduce((n, d) => n + d.acknowledged.size, 0);
    expect(devices.filter((d) => d.acknowledged.size === 0 || d.switchedAt !== undefined)).toEqual([]);
    const failedBefore = devices.reduce((n, d) => n + d.failedAt.length, 0);

    // Region A's ingest falls behind (stopped), then the whole region dies at once.
    const ingestA = stack.a.first('ingest').pid!;
    // First a point A's ingest is known to have passed (the machine is shared: its lag is not a constant):
    // every session A acknowledged until then is readable in B.
    const caughtUpFrom = Date.now();
    const ingestedByA = devices.flatMap((d) =>
      [...d.acknowledged].filter(([, ack]) => ack.region === 'a').map(([id]) => ({ d, id })),
    );
    await eventually(
      async () => {
        const inB = new Map<Device, Set<string>>();
        for (const { d, id } of ingestedByA) {
          if (!inB.has(d)) inB.set(d, new Set((await history('b', d.profileId)).map((r) => r.recordId)));
          if (!inB.get(d)!.has(id)) throw new Error(`not in B: ${id}`);
        }
      },
      20_000,
      200,
    );
    caughtUpAt = caughtUpFrom;
    ingestStoppedAt = Date.now();
    process.kill(ingestA, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, INGEST_LAG_MS));
    killedAt = Date.now();
    await Promise.all([regions.kill('a'), ...stack.a.members.map((member) => member.kill())]);
    log(
      `region A killed ${seconds(Date.now() - killedAt)} s after the first SIGKILL; ${beforeKill} sessions before, ${failedBefore} failed attempts`,
    );

    const homedInA = devices.filter((d) => d.home === 'a');
    await eventually(() => expect(homedInA.filter((d) => d.firstSuccessAfterKill === undefined)).toEqual([]), 60_000);
    const rto = homedInA.map((d) => d.firstSuccessAfterKill! - killedAt).sort((x, y) => x - y);
    const failed = homedInA.map((d) => d.failedAt.filter((t) => t >= killedAt).length);
    log(
      `RTO: region A's ${homedInA.length} devices served by B ${rto[0]}-${rto[rto.length - 1]} ms after the kill ` +
        `(median ${rto[rto.length >> 1]}); failover after ${FAILURES_BEFORE_FAILOVER} failed attempts ` +
        `(${RETRY_AFTER_MS} ms apart, ${REQUEST_TIMEOUT_MS} ms timeout); ` +
        `${failed.reduce((x, y) => x + y, 0)} requests failed meanwhile`,
    );
    // Region B's own devices never noticed.
    expect(devices.filter((d) => d.home === 'b' && d.failedAt.some((t) => t >= killedAt))).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);

  it('serves from region B without the tail region A had not ingested, and cannot switch a version', async () => {
    expect(killedAt).toBeGreaterThan(0); // the steps depend on each other
    await new Promise((r) => setTimeout(r, 5_000));
    // What B reads of what A acknowledged: all but A's unreplicated tail (the recovery point for reads).
    // Sessions B acknowledged a moment ago may still be on their way through B's ingest: wait for those.
    const snapshot = devices.map((device) => ({ device, acknowledged: [...device.acknowledged] }));
    const { missing, older } = await eventually(async () => {
      const found: Acknowledged[] = [];
      let readable = 0;
      for (const { device, acknowledged } of snapshot) {
        const read = new Set((await history('b', device.profileId)).map((r) => r.recordId));
        for (const [sessionId, ack] of acknowledged) {
          if (read.has(sessionId)) {
            if (ack.region === 'a' && ack.at < ingestStoppedAt) readable++;
            continue;
          }
          if (ack.region === 'b') throw new Error(`B has not yet ingested ${sessionId}`);
          found.push(ack);
        }
      }
      return { missing: found, older: readable };
    }, 20_000);
    const oldest = Math.min(...missing.map((m) => m.at));
    // Only A's unreplicated tail is missing: every session B lacks was acknowledged by A after the last point
    // A's ingest was seen to have passed (just before it stopped), every older one B reads.
    expect(
      missing
        .filter((m) => m.region !== 'a' || m.at < caughtUpAt)
        .map((m) => ({
          region: m.region,
          msBeforeStop: ingestStoppedAt - m.at,
          session: m.events[0].playbackSessionId,
        })),
    ).toEqual([]);
    expect(older).toBeGreaterThan(0);
    log(
      `RPO for reads in B: ${missing.length} sessions (${missing.length * 4} events) acknowledged by A, not readable ` +
        `until A returns; the oldest acknowledged ${seconds(killedAt - oldest)} s before the kill ` +
        `(A's ingest was stopped ${INGEST_LAG_MS / 1000} s before it, ${seconds(ingestStoppedAt - caughtUpAt)} s after ` +
        `the last point it was seen to have caught up with)`,
    );
    expect(missing.length).toBeGreaterThan(0);

    // A version switch needs both datacenters (SERIAL, ADR 12): compaction waits for region A. A probe
    // profile of its own: a timed-out Paxos round leaves its outcome open, and a later round may complete it.
    const repository = new CompressedHistoryRepository(environment.b.cassandra, environment.b.config as AppConfig);
    const profileId = uniqueProfileId('probe-evacuated');
    const started = Date.now();
    await expect(repository.switchVersion(null, emptyVersion(profileId, 1, randomUUID()))).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
    log(`a version switch in region B fails while A is down (answered in ${Date.now() - started} ms)`);
    expect(problems).toEqual([]);
  }, 90_000);

  it('ingests what region A acknowledged when it returns, and both regions converge', async () => {
    await stopLoad();
    expect(killedAt).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    // Over the whole outage: B's devices saw no failed request, A's exactly the attempts the failover policy spends.
    expect(failuresSince(killedAt)).toEqual(
      Object.fromEntries(devices.map((d) => [d.profileId, d.home === 'a' ? FAILURES_BEFORE_FAILOVER : 0])),
    );
    const outageMs = Date.now() - killedAt;
    // What region B's node holds for A's: the writes of the outage, as hints (max_hint_window, 3 h by default).
    // Hints reach the disk when their buffer is flushed (hints_flush_period, 10 s): wait for it.
    const hints = await eventually(
      async () => {
        const held = regions.hints('b');
        expect(held.bytes).toBeGreaterThan(0);
        return held;
      },
      30_000,
      500,
    );
    const seenByB = (await regions.nodetool('b', 'status'))
      .split('\n')
      .find((line) => line.includes(regions.nodeAddress('a')));
    log(
      `before A returns, B's node sees A's as ${seenByB?.trim().split(/\s+/)[0]} and holds ${hints.files} hint files, ${hints.bytes} bytes`,
    );
    expect(hints.bytes).toBeGreaterThan(0);
    let started = Date.now();
    await regions.restart('a');
    const nodeUp = Date.now();
    log(`region A's Kafka and Cassandra back in ${seconds(nodeUp - started)} s`);
    started = Date.now();
    for (const member of stack.a.members) if (!member.running) await member.start();
    const appsUp = Date.now();
    log(`region A's apps back in ${seconds(appsUp - started)} s (outage ${seconds(appsUp - killedAt)} s in all)`);

    const all = (region: RegionName) =>
      devices.flatMap((d) => [...d.acknowledged].filter(([, ack]) => ack.region === region).map(([id]) => ({ d, id })));
    /** How long after `since` a region reads every one of the sessions. */
    const readableAfter = (region: RegionName, sessions: { d: Device; id: string }[], since: number) =>
      eventually(
        async () => {
          const byDevice = new Map<Device, Set<string>>();
          for (const { d } of sessions)
            if (!byDevice.has(d)) byDevice.set(d, new Set((await history(region, d.profileId)).map((r) => r.recordId)));
          expect(sessions.filter(({ d, id }) => !byDevice.get(d)!.has(id))).toEqual([]);
          return Date.now() - since;
        },
        120_000,
        500,
      );
    // A's ingest drains its log's tail, replicated to B at once; B's outage writes reach A by hinted handoff.
    const [drainedMs, hintedMs] = await Promise.all([
      readableAfter('b', all('a'), appsUp),
      readableAfter('a', all('b'), nodeUp),
    ]);
    log(
      `after A's apps were up: its log's tail readable in B within ${seconds(drainedMs)} s, ` +
        `B's writes of the ${seconds(outageMs)} s outage readable in A ${seconds(hintedMs)} s after A's ` +
        `node answered (hinted handoff; read once A's API was up)`,
    );

    const differing = async () => {
      const found: string[] = [];
      for (const { profileId } of devices) {
        const [inA, inB] = await Promise.all([history('a', profileId), history('b', profileId)]);
        if (JSON.stringify(inA) !== JSON.stringify(inB)) found.push(profileId);
      }
      return found;
    };
    log(
      `profiles answered differently by A and B before the repair: ${(await differing()).length}; ` +
        `hint files left on B's node: ${regions.hints('b').files}`,
    );

    // Writes A's node took but had not sent to B when it died exist only in dc1: a repair after an unclean death.
    started = Date.now();
    for (const keyspace of [environment.a.config.cassandra.keyspace, environment.a.config.profileKeys.keyspace])
      await regions.nodetool('a', 'repair', '-full', keyspace);
    log(`nodetool repair -full of both keyspaces from A: ${seconds(Date.now() - started)} s`);

    // Both regions answer every profile with exactly the fold of its acknowledged events: each event once.
    let sessions = 0;
    for (const device of devices) {
      const expected = expectedHistory(device);
      expect(expected.map((r) => r.recordId).sort()).toEqual([...device.acknowledged.keys()].sort());
      const [inA, inB] = await Promise.all([history('a', device.profileId), history('b', device.profileId)]);
      expect(inA).toEqual(expected);
      expect(inB).toEqual(expected);
      sessions += inA.length;
    }
    log(
      `converged: ${devices.length} profiles, ${sessions} sessions (${sessions * 4} events) in A and B, ` +
        `each exactly the fold of its acknowledged events`,
    );
  }, 420_000);

  it('goes on serving each region through a partition, and converges without a repair when it heals', async () => {
    expect(killedAt).toBeGreaterThan(0);
    // The gateway sends region A's devices home again; a few members travel: their devices use the other region.
    const travelling = new Set(devices.filter((_, i) => i % 6 === 0));
    const other = (region: RegionName): RegionName => (region === 'a' ? 'b' : 'a');
    for (const device of devices) {
      device.base = travelling.has(device) ? other(device.home) : device.home;
      device.consecutiveFailures = 0;
    }
    startLoad();
    await new Promise((r) => setTimeout(r, 3_000));
    // Hint files left from the evacuation do not count: only those written after the cut.
    const hintsBefore = { a: regions.hintFiles('a'), b: regions.hintFiles('b') };
    const hintsSinceCut = (region: RegionName) =>
      regions.hintFiles(region).filter((f) => f.bytes > 0 && !hintsBefore[region].some((g) => g.name === f.name));
    const cutAt = Date.now();
    regions.partition();
    await new Promise((r) => setTimeout(r, 10_000));

    // Each region accepts and serves its members throughout (asserted over the whole cut below).
    expect(devices.filter((d) => d.base !== (travelling.has(d) ? other(d.home) : d.home))).toEqual([]);
    const repositories = (['a', 'b'] as const).map(
      (region) =>
        new CompressedHistoryRepository(environment[region].cassandra, environment[region].config as AppConfig),
    );
    // Probe profiles of their own, as in the evacuation step (a timed-out Paxos round may complete later).
    const switches = await Promise.allSettled(
      repositories.map((repository, i) =>
        repository.switchVersion(null, emptyVersion(uniqueProfileId(`probe-cut-${i}`), 1, randomUUID())),
      ),
    );
    expect(switches.map((s) => s.status === 'rejected' && s.reason instanceof DependencyUnavailableError)).toEqual([
      true,
      true,
    ]);
    // Each node writes hints for the other's datacenter (flushed to disk every 10 s: wait for it).
    const hints = await eventually(
      () => {
        const held = { a: hintsSinceCut('a'), b: hintsSinceCut('b') };
        expect([held.a.length, held.b.length].filter((files) => files === 0)).toEqual([]);
        return held;
      },
      30_000,
      500,
    );
    // The cut is complete both ways: what either region acknowledged once the cut took hold (5 s: writes in
    // flight at the cut) it reads, and the other does not, up to the heal.
    // (The load goes on: the sessions acknowledged until now, each read once its own region ingested it.)
    const settledAt = cutAt + 5_000;
    const snapshot = devices.map((device) => ({ device, acknowledged: [...device.acknowledged] }));
    const unseen = await eventually(async () => {
      const count = { a: 0, b: 0 };
      for (const { device, acknowledged } of snapshot) {
        const read = {
          a: new Set((await history('a', device.profileId)).map((r) => r.recordId)),
          b: new Set((await history('b', device.profileId)).map((r) => r.recordId)),
        };
        for (const [sessionId, ack] of acknowledged) {
          if (ack.at <= settledAt) continue;
          if (!read[ack.region].has(sessionId)) throw new Error(`not yet ingested in ${ack.region}: ${sessionId}`);
          expect({ sessionId, seenAcrossTheCut: read[other(ack.region)].has(sessionId) }).toEqual({
            sessionId,
            seenAcrossTheCut: false,
          });
          count[ack.region]++;
        }
      }
      return count;
    }, 20_000);
    expect(unseen.a).toBeGreaterThan(0);
    expect(unseen.b).toBeGreaterThan(0);
    const healAt = Date.now();
    regions.heal();
    await stopLoad();
    expect(problems).toEqual([]);
    // No request failed in either region, from the cut through the heal to the last acknowledgement.
    expect(failuresSince(cutAt)).toEqual(Object.fromEntries(devices.map((d) => [d.profileId, 0])));
    const bytes = (files: { bytes: number }[]) => files.reduce((n, f) => n + f.bytes, 0);
    log(
      `partition of ${seconds(healAt - cutAt)} s: no request failed in either region; of the sessions acknowledged ` +
        `more than 5 s after the cut, ${unseen.a} of A's unreadable in B and ${unseen.b} of B's in A until the heal; ` +
        `no version switch in either; hints written since the cut: ${hints.a.length} files, ${bytes(hints.a)} bytes ` +
        `in A, ${hints.b.length} files, ${bytes(hints.b)} bytes in B`,
    );

    // Healed: hints and queued messages both ways; no node died, so no repair. Each record exactly the fold.
    const convergedMs = await eventually(
      async () => {
        for (const device of devices) {
          const expected = expectedHistory(device);
          const [inA, inB] = await Promise.all([history('a', device.profileId), history('b', device.profileId)]);
          expect(inA).toEqual(expected);
          expect(inB).toEqual(expected);
        }
        return Date.now() - healAt;
      },
      120_000,
      500,
    );
    const sessions = devices.reduce((n, d) => n + d.acknowledged.size, 0);
    log(
      `healed: both regions answer all ${sessions} sessions, each exactly the fold of its acknowledged events, ` +
        `${seconds(convergedMs)} s after the heal`,
    );
  }, 300_000);
});

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function log(line: string): void {
  process.stdout.write(`[evacuation] ${line}\n`);
}
