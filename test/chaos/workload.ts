import { Kafka, Partitioners, Producer } from 'kafkajs';
import { AppStack } from '../support/app-stack';
import { bearer } from '../support/tokens';
import { ModelEvent, ModelPlaybackEvent } from './reference-model';
import { Random } from './random';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Within EVENT_MAX_CLOCK_SKEW_MS (5 min): a device clock may run this far ahead or behind. */
const MAX_DEVICE_SKEW_MS = 4 * MINUTE;
/** Older than COMPACTION_MIN_AGE_MS (14 days): days a forced compaction rolls up. */
const OLD_DAYS = { from: 15, to: 19 };
const REQUEST_TIMEOUT_MS = 30_000;
/** Much older than the 3-month auto-delete by the device's clock, yet accepted now: no period hides them. */
const ANCIENT_DAYS = { from: 100, to: 130 };
/**
 * An erasure waits this long after a write to its profile that got no answer: the collector may still
 * publish it, after the mark on the log but with an acceptance before the erasure's (the checker judges
 * by acceptance, the service by log order; docs/adr/0009). Above the request timeout and a Kafka outage.
 */
const ERASURE_QUIET_MS = 90_000;
/** Retried as told (503, Retry-After 5 s) for about a minute: longer than the nemesis holds a fault. */
const ERASURE_ATTEMPTS = 12;
const ERASURE_IN_PROGRESS_WAIT_MS = 180_000;
/**
 * A backfill's old sessions: about 5 events each, some delivered twice, so 150-300 rows, above the 100 a
 * compaction deletes one by one (MAX_ROW_DELETES): asked for while they are fresh, it leaves them for a removal.
 */
const BACKFILL_SESSIONS = 40;
/** After the backfill, before its compaction: ingest has written it, and it is still within --delete-margin. */
const BACKFILL_SETTLE_MS = 1_000;
/** How long a backfill waits for its compaction's outcome (a fault may hold it longer: then unknown). */
const BACKFILL_COMPACTION_WAIT_MS = 30_000;

export type OperationKind =
  | 'post-events'
  | 'produce-late'
  | 'compact-backfill'
  | 'remove-record'
  | 'clear-history'
  | 'change-settings'
  | 'remove-title'
  | 'erase-profile'
  | 'redrive-dead-letters'
  | 'read-history'
  | 'read-continue-watching'
  | 'batch-get'
  | 'export';

/** One thing the workload did, and whether the service acknowledged it. */
export interface OperationRecord {
  kind: OperationKind;
  target: string;
  startedAt: number;
  endedAt: number;
  /** HTTP status, or what went wrong before one arrived. */
  status: number | 'network-error' | 'produce-error';
  acknowledged: boolean;
  profileId?: string;
  eventIds?: string[];
  /** What a control asked for: the settings changed, the title removed, how the erasure was confirmed. */
  detail?: unknown;
  error?: string;
}

type Planned = Omit<ModelPlaybackEvent, 'acceptedAt'>;

interface PlannedSession {
  profileId: string;
  sessionId: string;
  /** Deliveries in the order they will be sent: out of order, some twice, some re-stamped. */
  deliveries: Planned[];
  sent: number;
  old: boolean;
}

interface ProfileState {
  profileId: string;
  deviceSkews: number[];
  sessions: PlannedSession[];
  /** Sessions with at least one delivery sent: what a removal may target. */
  startedSessionIds: string[];
  /** One profile in five clears its history (once): a clear hides nearly everything, so not more. */
  mayClear: boolean;
  clears: number;
  /** What the workload last asked for (the model judges by what the log holds). */
  recording: 'on' | 'paused';
  /** One profile in eight is erased (once): the rest keep their history to compare. */
  mayErase: boolean;
  erasures: number;
  /** The last write to the profile that got no answer (see ERASURE_QUIET_MS). */
  lastUnansweredWriteAt: number;
}

export interface WorkloadContext {
  stack: AppStack;
  kafka: Kafka;
  topic: string;
  env: Record<string, string>;
}

/**
 * The seeded workload. Profiles are split among workers, each with its own generator, so the
 * sequence of operations depends on the seed only, not on timing.
 */
export class Workload {
  readonly operations: OperationRecord[] = [];
  /** Every playback event the service acknowledged, as sent (controls come from the log: their stamp is the API's). */
  readonly acknowledged: ModelEvent[] = [];
  /** eventIds of acknowledged deletions, settings changes, title removals and erasures: each must be on the log. */
  readonly acknowledgedControlIds: string[] = [];
  readonly profiles: ProfileState[] = [];
  /** Exports that ended without their end line and without saying they were incomplete. */
  silentlyIncompleteExports = 0;
  /**
   * Backfills; those whose compaction, asked for at once, left rows for a removal job; those whose compaction
   * failed for good (its attempts spent) or was not seen to end within the wait (running, or delayed to retry).
   */
  readonly backfills = { total: 0, compactionsLeavingRows: 0, compactionsFailed: 0, compactionsUnfinished: 0 };
  private producer: Producer | null = null;
  private readonly deviceHeaders = new Map<string, Record<string, string>>();
  private recommender: Record<string, string> = {};
  private operator: Record<string, string> = {};

  constructor(
    private readonly random: Random,
    private readonly context: WorkloadContext,
    readonly profileCount: number,
  ) {}

  async prepare(): Promise<void> {
    this.recommender = await bearer('recommender', undefined, this.context.env);
    this.operator = await bearer('operator', undefined, this.context.env);
    const runId = this.random.uuid().slice(0, 6);
    for (let p = 0; p < this.profileCount; p++) {
      const profileId = `chaos-${runId}-${String(p).padStart(3, '0')}`;
      this.deviceHeaders.set(profileId, await bearer('device', [profileId], this.context.env));
      const skews = [0, 1, 2].map(() => this.random.int(-MAX_DEVICE_SKEW_MS, MAX_DEVICE_SKEW_MS));
      const profile: ProfileState = {
        profileId,
        deviceSkews: skews,
        sessions: [],
        startedSessionIds: [],
        mayClear: p % 5 === 4,
        clears: 0,
        recording: 'on',
        mayErase: p % 8 === 6,
        erasures: 0,
        lastUnansweredWriteAt: 0,
      };
      for (let s = this.random.int(1, 2); s > 0; s--) profile.sessions.push(this.planSession(profile, true));
      this.profiles.push(profile);
    }
  }

  /** The older history: most of each old session straight onto the log, before the first compaction. */
  async seedOldHistory(): Promise<void> {
    for (const profile of this.profiles) {
      for (const session of profile.sessions) {
        const first = Math.ceil(session.deliveries.length * 0.6);
        await this.produceLate(profile, session, first);
      }
    }
  }

  /** Runs `workers` workers until `until` (epoch ms). */
  async run(until: number, workers: number): Promise<void> {
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        this.worker(
          this.random.fork(100 + w),
          this.profiles.filter((_, i) => i % workers === w),
          until,
        ),
      ),
    );
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
  }

  private async worker(random: Random, profiles: ProfileState[], until: number): Promise<void> {
    while (Date.now() < until) {
      const profile = random.pick(profiles);
      const roll = random.next();
      if (roll < 0.53) await this.postNext(random, profile);
      else if (roll < 0.61) await this.lateNext(random, profile);
      else if (roll < 0.64) await this.removeRecord(random, profile);
      else if (roll < 0.645 && profile.mayClear && profile.clears === 0) await this.clearHistory(random, profile);
      else if (roll < 0.665) await this.changeSettings(random, profile);
      else if (roll < 0.675) await this.removeTitle(random, profile);
      else if (roll < 0.695) await this.erase(random, profile);
      else if (roll < 0.8) await this.read(random, 'read-history', profile);
      else if (roll < 0.9) await this.read(random, 'read-continue-watching', profile);
      else if (roll < 0.993) await this.batchGet(random);
      else if (roll < 0.995) await this.backfill(random, profile);
      else await this.exportAll(random);
      await sleep(random.int(5, 40));
    }
  }

  /** The next few deliveries of a recent session (a new one when none is open), through the collector. */
  private async postNext(random: Random, profile: ProfileState): Promise<void> {
    let session = profile.sessions.find((s) => !s.old && s.sent < s.deliveries.length);
    if (!session || random.chance(0.15)) {
      session = this.planSession(profile, false, random);
      profile.sessions.push(session);
    }
    const batch = session.deliveries.slice(session.sent, session.sent + random.int(1, 4));
    session.sent += batch.length;
    if (!profile.startedSessionIds.includes(session.sessionId)) profile.startedSessionIds.push(session.sessionId);
    const collector = random.pick(this.context.stack.of('collector'));
    const body = { events: batch.map(wire) };
    const result = await this.request(
      'post-events',
      collector.id,
      `${collector.url}/v1/events`,
      'POST',
      body,
      this.deviceHeaders.get(profile.profileId)!,
      profile.profileId,
    );
    const accepted = new Set<number>();
    if (result.status === 202 || result.status === 207) {
      for (const item of (result.body?.results ?? []) as { index: number; status: string }[])
        if (item.status === 'accepted') accepted.add(item.index);
    }
    result.record.eventIds = batch.map((e) => e.eventId);
    result.record.acknowledged = accepted.size === batch.length;
    batch.forEach((event, i) => {
      if (accepted.has(i)) this.acknowledged.push({ ...event, acceptedAt: result.record.endedAt });
    });
  }

  /** Late events for days already compacted, produced straight onto the log as the collector would. */
  private async lateNext(random: Random, profile: ProfileState): Promise<void> {
    let session = profile.sessions.find((s) => s.old && s.sent < s.deliveries.length);
    if (!session || random.chance(0.2)) {
      session = this.planSession(profile, true, random, random.chance(0.1));
      profile.sessions.push(session);
    }
    await this.produceLate(profile, session, random.int(1, 3));
  }

  /**
   * A backfill (a restore, an import from another device): many old sessions of one profile onto the log at
   * once, then its compaction asked for while the rows are fresh. With --delete-margin, the run spares them all,
   * too many to delete one by one, and leaves them for a removal job, which then runs under the faults too.
   */
  private async backfill(random: Random, profile: ProfileState): Promise<void> {
    const sessions = Array.from({ length: BACKFILL_SESSIONS }, () => this.planSession(profile, true, random));
    profile.sessions.push(...sessions);
    this.backfills.total++;
    for (const session of sessions) await this.produceLate(profile, session, session.deliveries.length);
    await sleep(BACKFILL_SETTLE_MS);
    const api = random.pick(this.context.stack.of('api'));
    const asked = await this.request(
      'compact-backfill',
      api.id,
      `${api.url}/v1/admin/compactions`,
      'POST',
      { profileId: profile.profileId },
      this.operator,
    );
    asked.record.detail = { profileId: profile.profileId, deliveries: sessions.reduce((n, s) => n + s.sent, 0) };
    if (asked.status !== 202 || typeof asked.body?.jobId !== 'string') return;
    asked.record.acknowledged = true;
    const deadline = Date.now() + BACKFILL_COMPACTION_WAIT_MS;
    while (Date.now() < deadline) {
      await sleep(500);
      const job = await compactionJob(api.url, asked.body.jobId, this.operator, REQUEST_TIMEOUT_MS).catch(() => null);
      if (job?.state === 'failed') {
        this.backfills.compactionsFailed++;
        asked.record.error = `compaction failed: ${job.failedReason ?? 'no reason given'}`.slice(0, 300);
      }
      if (job?.state !== 'completed' && job?.state !== 'failed') continue;
      if ((job.result?.liveRowsLeft ?? 0) > 0) this.backfills.compactionsLeavingRows++;
      return;
    }
    this.backfills.compactionsUnfinished++;
  }

  private async produceLate(profile: ProfileState, session: PlannedSession, count: number): Promise<void> {
    const batch = session.deliveries.slice(session.sent, session.sent + count);
    session.sent += batch.length;
    if (!profile.startedSessionIds.includes(session.sessionId)) profile.startedSessionIds.push(session.sessionId);
    const record: OperationRecord = {
      kind: 'produce-late',
      target: 'log',
      startedAt: Date.now(),
      endedAt: 0,
      status: 'produce-error',
      acknowledged: false,
      profileId: profile.profileId,
      eventIds: batch.map((e) => e.eventId),
    };
    try {
      this.producer ??= await this.connectProducer();
      await this.producer.send({
        topic: this.context.topic,
        acks: -1,
        timeout: REQUEST_TIMEOUT_MS,
        messages: batch.map((e) => ({ key: e.profileId, value: JSON.stringify({ schemaVersion: 1, ...wire(e) }) })),
      });
      record.status = 200;
      record.acknowledged = true;
    } catch (error) {
      record.error = (error as Error).message.slice(0, 300);
      profile.lastUnansweredWriteAt = Date.now();
    }
    record.endedAt = Date.now();
    this.operations.push(record);
    if (record.acknowledged) for (const e of batch) this.acknowledged.push({ ...e, acceptedAt: record.endedAt });
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.context.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3 },
    });
    await producer.connect();
    return producer;
  }

  private async removeRecord(random: Random, profile: ProfileState): Promise<void> {
    if (profile.startedSessionIds.length === 0 || !random.chance(0.5)) return;
    const recordId = random.pick(profile.startedSessionIds);
    const api = random.pick(this.context.stack.of('api'));
    const result = await this.request(
      'remove-record',
      api.id,
      `${api.url}/v1/profiles/${profile.profileId}/history/${recordId}`,
      'DELETE',
      undefined,
      this.deviceHeaders.get(profile.profileId)!,
      profile.profileId,
    );
    this.noteControl(result);
  }

  private async clearHistory(random: Random, profile: ProfileState): Promise<void> {
    profile.clears++;
    const api = random.pick(this.context.stack.of('api'));
    const result = await this.request(
      'clear-history',
      api.id,
      `${api.url}/v1/profiles/${profile.profileId}/history`,
      'DELETE',
      undefined,
      this.deviceHeaders.get(profile.profileId)!,
      profile.profileId,
    );
    this.noteControl(result);
  }

  /**
   * Pause or resume recording (sessions first accepted while paused stay hidden, whole), and now and then
   * an auto-delete period. The model reads the change from the log with the API's acceptance.
   */
  private async changeSettings(random: Random, profile: ProfileState): Promise<void> {
    const changes: { recording?: 'on' | 'paused'; autoDelete?: string } = {};
    if (random.chance(0.65)) changes.recording = profile.recording === 'on' ? 'paused' : 'on';
    if (!changes.recording || random.chance(0.3)) changes.autoDelete = random.pick(['3m', '18m', '36m', 'never']);
    const api = random.pick(this.context.stack.of('api'));
    const result = await this.request(
      'change-settings',
      api.id,
      `${api.url}/v1/profiles/${profile.profileId}/settings`,
      'PUT',
      changes,
      this.deviceHeaders.get(profile.profileId)!,
      profile.profileId,
    );
    result.record.detail = changes;
    // Unanswered, it may still be on the log: the workload's belief only steers the next toggle.
    if (changes.recording && result.status === 202) profile.recording = changes.recording;
    this.noteControl(result);
  }

  /** "Remove this title" for a title the profile has played (or, rarely, one it has not). */
  private async removeTitle(random: Random, profile: ProfileState): Promise<void> {
    const played = profile.sessions.filter((s) => s.sent > 0).map((s) => s.deliveries[0].titleId);
    const titleId = played.length && random.chance(0.9) ? random.pick(played) : `title-${random.int(1, 12)}`;
    const api = random.pick(this.context.stack.of('api'));
    const result = await this.request(
      'remove-title',
      api.id,
      `${api.url}/v1/profiles/${profile.profileId}/titles/${titleId}/history`,
      'DELETE',
      undefined,
      this.deviceHeaders.get(profile.profileId)!,
      profile.profileId,
    );
    result.record.detail = { titleId };
    this.noteControl(result);
  }

  /**
   * Erases the profile for good (an operator, or its own device with the confirmation), retried until
   * answered: every attempt is on record, every mark on the log counts. The profile then starts afresh:
   * no session, and no eventId, spans the erasure, so each event lies plainly before or after the mark.
   */
  private async erase(random: Random, profile: ProfileState): Promise<void> {
    if (!profile.mayErase || profile.erasures > 0) return;
    if (Date.now() - profile.lastUnansweredWriteAt < ERASURE_QUIET_MS) return;
    profile.erasures++;
    const byOperator = random.chance(0.5);
    const headers = byOperator ? this.operator : this.deviceHeaders.get(profile.profileId)!;
    const body = byOperator ? undefined : { confirm: profile.profileId };
    // A 409 (another erasure of the profile in progress: after a killed API, until its lease of 15 s runs out and
    // a retry or ingest finishes it) is retried until ERASURE_IN_PROGRESS_WAIT_MS, without using up an attempt.
    const inProgressUntil = Date.now() + ERASURE_IN_PROGRESS_WAIT_MS;
    for (let attempt = 0; attempt < ERASURE_ATTEMPTS; attempt++) {
      const api = random.pick(this.context.stack.of('api'));
      const result = await this.request(
        'erase-profile',
        api.id,
        `${api.url}/v1/profiles/${profile.profileId}`,
        'DELETE',
        body,
        headers,
        profile.profileId,
      );
      result.record.detail = { by: byOperator ? 'operator' : 'device', attempt };
      if (result.status === 202 && typeof result.body?.erasureId === 'string') {
        result.record.acknowledged = true;
        result.record.eventIds = [result.body.erasureId];
        this.acknowledgedControlIds.push(result.body.erasureId);
        break;
      }
      const inProgress = result.status === 409 && Date.now() < inProgressUntil;
      if (result.status !== null && result.status < 500 && !inProgress) break;
      if (inProgress) attempt--;
      await sleep(5_000);
    }
    for (const session of profile.sessions) session.sent = session.deliveries.length;
    profile.startedSessionIds = [];
    profile.recording = 'on';
  }

  /** A deletion or control the API answered 202 with its eventId: on the log, so the model will see it. */
  private noteControl(result: { record: OperationRecord; body: any }): void {
    if (result.record.status === 202 && typeof result.body?.eventId === 'string') {
      result.record.acknowledged = true;
      result.record.eventIds = [result.body.eventId];
      this.acknowledgedControlIds.push(result.body.eventId);
    }
  }

  private async read(random: Random, kind: 'read-history' | 'read-continue-watching', profile: ProfileState) {
    const api = random.pick(this.context.stack.of('api'));
    const path = kind === 'read-history' ? 'history?limit=50' : 'continue-watching';
    const headers = random.chance(0.5) ? this.deviceHeaders.get(profile.profileId)! : this.recommender;
    await this.request(kind, api.id, `${api.url}/v1/profiles/${profile.profileId}/${path}`, 'GET', undefined, headers);
  }

  private async batchGet(random: Random): Promise<void> {
    const api = random.pick(this.context.stack.of('api'));
    const profiles = random.shuffle(this.profiles).slice(0, 20);
    await this.request(
      'batch-get',
      api.id,
      `${api.url}/v1/history:batchGet`,
      'POST',
      { profiles: profiles.map((p) => ({ profileId: p.profileId })) },
      this.recommender,
    );
  }

  /** An export must end with its end line, or say it is incomplete with an error line (invariant 4). */
  private async exportAll(random: Random): Promise<void> {
    const api = random.pick(this.context.stack.of('api'));
    const result = await this.request(
      'export',
      api.id,
      `${api.url}/v1/history/export?since=2000-01-01T00:00:00Z`,
      'GET',
      undefined,
      this.recommender,
    );
    if (result.status !== 200) return;
    const lines = String(result.body ?? '')
      .split('\n')
      .filter(Boolean);
    const last = safeJson(lines[lines.length - 1] ?? '');
    if (last?.type === 'end') result.record.acknowledged = true;
    else if (last?.type !== 'error') {
      result.record.error = 'export answered 200 without its end line or an error line';
      this.silentlyIncompleteExports++;
    }
  }

  private async request(
    kind: OperationKind,
    target: string,
    url: string,
    method: string,
    body: unknown,
    headers: Record<string, string>,
    profileId?: string,
  ): Promise<{ record: OperationRecord; status: number | null; body: any }> {
    const record: OperationRecord = {
      kind,
      target,
      startedAt: Date.now(),
      endedAt: 0,
      status: 'network-error',
      acknowledged: false,
      profileId,
    };
    let parsed: any = null;
    try {
      const response = await fetch(url, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      record.status = response.status;
      // A body cut off (timeout, process killed) counts as no answer, not as the status line's 200.
      const text = await response.text().catch((error: Error) => {
        record.status = 'network-error';
        throw error;
      });
      parsed = kind === 'export' ? text : safeJson(text);
      if (response.status >= 500) record.error = text.slice(0, 300);
    } catch (error) {
      record.error = (error as Error).message.slice(0, 300);
    }
    record.endedAt = Date.now();
    this.operations.push(record);
    const unanswered = typeof record.status !== 'number' || record.status >= 500;
    if (method !== 'GET' && profileId !== undefined && unanswered) {
      const profile = this.profiles.find((p) => p.profileId === profileId);
      if (profile) profile.lastUnansweredWriteAt = record.endedAt;
    }
    return { record, status: typeof record.status === 'number' ? record.status : null, body: parsed };
  }

  /**
   * A session as a device plays it: play, pauses and resumes, seeks now and then, a stop; stamped
   * by the device's skewed clock. `old` sessions lie in days compaction rolls up; `ancient` ones, months
   * back by the device's clock, test that auto-delete judges on the service's clock (invariant 6).
   */
  private planSession(
    profile: ProfileState,
    old: boolean,
    random: Random = this.random,
    ancient = false,
  ): PlannedSession {
    const sessionId = random.uuid();
    const device = random.int(0, 2);
    const skew = profile.deviceSkews[device];
    const titleDurationMs = random.int(20, 120) * MINUTE;
    const titleId = `title-${random.int(1, 12)}`;
    const steps = random.int(1, 6);
    const wallSteps = Array.from({ length: steps }, () => random.int(1, 15) * MINUTE + random.int(0, 59_999));
    const length = wallSteps.reduce((a, b) => a + b, 0);
    const now = Date.now();
    const start = ancient
      ? now - random.int(ANCIENT_DAYS.from * DAY, ANCIENT_DAYS.to * DAY)
      : old
        ? now - random.int(OLD_DAYS.from * DAY, OLD_DAYS.to * DAY)
        : now - length - random.int(MINUTE, 2 * DAY);
    const base = { kind: 'playback' as const, profileId: profile.profileId, playbackSessionId: sessionId, titleId };
    const events: Planned[] = [];
    let position = random.chance(0.3) ? random.int(0, titleDurationMs / 2) : 0;
    let at = start;
    let type: Planned['type'] = 'play';
    for (let k = 0; k <= steps; k++) {
      events.push({
        ...base,
        deviceId: `device-${device}`,
        eventId: random.uuid(),
        type: k === steps ? 'stop' : type,
        positionMs: position,
        occurredAt: at + skew,
        ...(random.chance(0.7) ? { titleDurationMs } : {}),
      });
      if (k === steps) break;
      const wall = wallSteps[k];
      if (type === 'play') {
        const seek = random.chance(0.15) ? random.int(-10 * MINUTE, 20 * MINUTE) : 0;
        position = clamp(position + Math.round(wall * (0.9 + random.next() * 0.2)) + seek, 0, titleDurationMs);
      }
      at += wall;
      type = type === 'play' ? 'pause' : 'play';
    }
    if (random.chance(0.25)) events[events.length - 1].positionMs = titleDurationMs - random.int(0, 60_000);
    return { profileId: profile.profileId, sessionId, deliveries: deliveriesOf(events, random), sent: 0, old };
  }
}

/** Out of order (local swaps), some delivered twice, some re-stamped (same eventId, earlier occurredAt). */
function deliveriesOf(events: Planned[], random: Random): Planned[] {
  const out: Planned[] = [];
  for (const event of events) {
    out.push(event);
    if (random.chance(0.15)) out.push({ ...event });
    if (random.chance(0.1)) out.push({ ...event, occurredAt: event.occurredAt - random.int(1_000, 90_000) });
  }
  for (let i = 0; i < out.length - 1; i++) if (random.chance(0.35)) [out[i], out[i + 1]] = [out[i + 1], out[i]];
  if (out.length > 2 && random.chance(0.2)) out.push(out.shift()!);
  return out;
}

function wire(e: Planned) {
  return {
    eventId: e.eventId,
    profileId: e.profileId,
    titleId: e.titleId,
    playbackSessionId: e.playbackSessionId,
    type: e.type,
    positionMs: e.positionMs,
    occurredAt: new Date(e.occurredAt).toISOString(),
    deviceId: e.deviceId,
    ...(e.titleDurationMs === undefined ? {} : { titleDurationMs: e.titleDurationMs }),
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What the API says of a compaction job (`GET /v1/admin/compactions/{jobId}`). */
export interface CompactionJobView {
  state?: string;
  failedReason?: string | null;
  result?: { liveRowsLeft?: number } | null;
}

export async function compactionJob(
  apiUrl: string,
  jobId: string,
  operator: Record<string, string>,
  timeoutMs?: number,
): Promise<CompactionJobView> {
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const response = await fetch(`${apiUrl}/v1/admin/compactions/${jobId}`, { headers: operator, signal });
  return (await response.json()) as CompactionJobView;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
