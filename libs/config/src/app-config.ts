import { z } from 'zod/v4';
import { ViewingHistoryError } from '@vh/domain';

const DAY_MS = 24 * 3600_000;
const CONSISTENCY_LEVELS = ['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'EACH_QUORUM', 'ALL'] as const;

const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1));
const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const port = (fallback: number) => int(fallback, 0, 65535);
const cqlName = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,47}$/, 'must be a lower-case CQL identifier')
    .default(fallback);
const topicName = (fallback: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be a valid Kafka topic name')
    .default(fallback);

/** Every environment variable the service reads, with defaults that run against the local infrastructure. */
export const environmentSchema = z.object({
  KAFKA_BROKERS: list('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).default('viewing-history'),
  EVENT_TOPIC: topicName('viewing-history-events'),
  DEAD_LETTER_TOPIC: topicName('viewing-history-events.dead-letter'),
  EVENT_TOPIC_PARTITIONS: int(6, 1, 1000),
  /** Replicas of each topic `migrate` creates; 0: as many as there are brokers, up to 3. */
  KAFKA_REPLICATION_FACTOR: int(0, 0, 9),
  /** The event log is the source of truth: kept forever (-1) unless told otherwise. */
  EVENT_TOPIC_RETENTION_MS: z.coerce.number().int().min(-1).default(-1),
  DEAD_LETTER_TOPIC_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(-1)
    .default(30 * DAY_MS),
  INGEST_GROUP_ID: z.string().min(1).default('viewing-history-ingest'),
  INGEST_PARTITIONS_CONCURRENTLY: int(3, 1, 64),
  INGEST_WRITE_CONCURRENCY: int(64, 1, 2048),
  INGEST_RETRY_BUDGET_MS: int(30_000, 0),
  INGEST_PAUSE_MS: int(5_000, 100),
  /** An unrecognised Invalid answer dead-letters a row only after this many single-row failures... */
  INGEST_UNRECOGNISED_REFUSAL_ATTEMPTS: int(10, 2),
  /** ...the first at least this long ago: longer than a migration takes to propagate or a node to restart. */
  INGEST_UNRECOGNISED_REFUSAL_MIN_MS: int(15 * 60_000, 0),
  /** A crashed ingest process keeps its partitions this long; the broker allows 6 s to 5 min. */
  INGEST_SESSION_TIMEOUT_MS: int(30_000, 6_000, 300_000),

  CASSANDRA_CONTACT_POINTS: list('127.0.0.1:9042'),
  CASSANDRA_LOCAL_DC: z.string().min(1).default('datacenter1'),
  CASSANDRA_KEYSPACE: cqlName('viewing_history'),
  CASSANDRA_REPLICATION_FACTOR: int(1, 1, 9),
  /**
   * Replicas per datacenter of the keyspaces `migrate` creates, e.g. `dc1:3,dc2:3` for two regions; unset:
   * CASSANDRA_REPLICATION_FACTOR in CASSANDRA_LOCAL_DC alone.
   */
  CASSANDRA_REPLICATION: z
    .string()
    .regex(
      /^\s*[A-Za-z0-9_.-]+:[1-9]\s*(,\s*[A-Za-z0-9_.-]+:[1-9]\s*)*$/,
      'must be datacenter:replicas pairs, e.g. dc1:3,dc2:3',
    )
    .optional(),
  CASSANDRA_READ_CONSISTENCY: z.enum(CONSISTENCY_LEVELS).default('LOCAL_QUORUM'),
  CASSANDRA_WRITE_CONSISTENCY: z.enum(CONSISTENCY_LEVELS).default('LOCAL_QUORUM'),
  CASSANDRA_REQUEST_TIMEOUT_MS: int(12_000, 100),

  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),

  COLLECTOR_PORT: port(3001),
  API_PORT: port(3002),
  INGEST_PORT: port(3003),
  HTTP_BODY_LIMIT: z
    .string()
    .regex(/^\d+(kb|mb)$/)
    .default('1mb'),
  /** Requests one process works on at once; more are shed with 503 at once. */
  HTTP_MAX_IN_FLIGHT: int(256, 1, 100_000),
  /**
   * adaptive: the bound is found from latency below HTTP_MAX_IN_FLIGHT (lowered while answers slow down, as
   * Netflix's concurrency limits do; ADR 13); fixed: HTTP_MAX_IN_FLIGHT always.
   */
  HTTP_IN_FLIGHT_LIMIT: z.enum(['adaptive', 'fixed']).default('adaptive'),
  /**
   * Adaptive: how much slower than their slow average answers may get before the bound falls. 3, not the
   * library's 1.5: this API's answers slow with its parallelism long before its throughput stops growing (ADR 13).
   */
  HTTP_IN_FLIGHT_TOLERANCE: z.coerce.number().min(1).max(100).default(3),
  /** Requests arriving while the event loop runs this late (mean over the last second) are shed; 0 turns it off. */
  HTTP_MAX_EVENT_LOOP_DELAY_MS: int(100, 0, 60_000),
  /** SIGTERM: how long an app may drain before it exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(15_000, 100),
  // The console's session: at most this long, and never past the expiry of the token it was made from.
  CONSOLE_SESSION_TTL_SECONDS: int(1_800, 1, 43_200),
  // auto: Secure when the request came over TLS (directly or X-Forwarded-Proto: https); always: every time.
  CONSOLE_COOKIE_SECURE: z.enum(['auto', 'always']).default('auto'),

  EVENT_BATCH_MAX: int(500, 1, 10_000),
  EVENT_MAX_CLOCK_SKEW_MS: int(5 * 60_000, 0),
  /** Devices may upload offline playback this late; must stay below the compaction age. */
  EVENT_MAX_AGE_MS: int(7 * DAY_MS, 60_000),

  HISTORY_PAGE_DEFAULT: int(50, 1, 1000),
  HISTORY_PAGE_MAX: int(200, 1, 1000),
  HISTORY_BATCH_MAX_PROFILES: int(100, 1, 1000),
  /** Read path circuit breaker around Cassandra: failures that open it, and how long it stays open. */
  READ_BREAKER_FAILURES: int(5, 1, 1000),
  READ_BREAKER_OPEN_MS: int(5_000, 100),
  HISTORY_EXPORT_TOKEN_RANGES: int(64, 1, 65536),
  /**
   * An export whose `since` is at most this many days back walks the activity index, its days merged shard
   * by shard (cost follows what changed); an older one walks both tables by token ranges. At most 89: the
   * index rows live 90 days.
   */
  HISTORY_EXPORT_INDEX_MAX_DAYS: int(30, 0, 89),

  /** Live events older than this are rolled into compressed history. Must exceed EVENT_MAX_AGE_MS. */
  COMPACTION_MIN_AGE_MS: int(14 * DAY_MS, 60_000),
  /** A read that finds more live events than this asks for a compaction of the profile. */
  COMPACTION_LIVE_EVENTS_TRIGGER: int(2_000, 1),
  /** A profile's read-path compaction request is made at most once per this window (per API process). */
  COMPACTION_READ_TRIGGER_WINDOW_MS: int(15 * 60_000, 1_000),
  COMPACTION_CHUNK_MAX_BYTES: int(256 * 1024, 1024, 1024 * 1024),
  COMPACTION_ZSTD_LEVEL: int(9, 1, 19),
  /** The zstd dictionary new chunks use: "latest" shipped, "none", or an id (see zstd-dictionaries.ts). */
  COMPACTION_ZSTD_DICTIONARY: z
    .union([z.enum(['latest', 'none']), z.coerce.number().int().min(1)])
    .default('latest')
    .transform((v) => (v === 'none' ? 0 : v)),
  /**
   * The record encoding new versions are written in. vh-columnar-v2 is the layout builds before 2026-11-27
   * read (settled digests in trail chunks): for a rolling upgrade, until every API and compactor reads v3
   * (ADR 6, amendment of 2026-11-27).
   */
  COMPACTION_RECORD_ENCODING: z.enum(['vh-columnar-v2', 'vh-columnar-v3']).default('vh-columnar-v3'),
  /** Superseded chunk sets stay readable this long for readers holding old metadata. */
  COMPACTION_GRACE_MS: int(10 * 60_000, 0),
  /**
   * The range delete of rolled-up live rows spares rows written this long before the compactor read them:
   * the bound on clock skew between ingest and compactor hosts plus a write's time in flight. A late row
   * written after the read is never deleted unread (invariant 2); a spared row is a known duplicate (its
   * eventId is in a trail), removed by the next run. Sparing costs almost nothing (only late rows are written
   * with an event time before the cutoff), so the default is generous: ten minutes, far above NTP skew.
   */
  COMPACTION_DELETE_MARGIN_MS: int(10 * 60_000, 0),
  /**
   * Days after the last acceptance of its events (the service's clock) that a compressed record keeps its
   * session trail; then it is settled and a late event of its session has the trail rebuilt from the event
   * log (docs/adr/0006). 0 keeps trails forever. Ignored across several datacenters (never settled).
   */
  COMPACTION_TRAIL_RETENTION_DAYS: int(30, 0),
  COMPACTION_CONCURRENCY: int(2, 1, 64),
  COMPACTION_ATTEMPTS: int(5, 1, 100),
  /** A job whose worker stops renewing its lock this long is taken over by another worker. */
  COMPACTION_LOCK_MS: int(30_000, 1_000),
  COMPACTION_SCHEDULE: z.string().min(9).default('*/15 * * * *'),
  /** Event days the scheduled sweep looks at, ending COMPACTION_MIN_AGE_MS ago. */
  COMPACTION_SWEEP_DAYS: int(3, 1, 365),
  COMPACTION_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('viewing-history-compaction'),
  COMPRESSED_CACHE_MAX_BYTES: int(64 * 1024 * 1024, 0),
  COMPACTOR_PORT: port(3004),
  /** Test only: the compaction processor kills itself at this step, to prove crash safety. */
  COMPACTION_FAIL_POINT: z.enum(['none', 'after-chunks', 'after-switch']).default('none'),

  /** HS256 key for access tokens. The default is for local use only: set a real one, or a public key. */
  AUTH_JWT_SECRET: z.string().min(32).default('local-development-secret-do-not-use-in-production'),
  /** PEM public key (RS256/ES256/EdDSA); when set, tokens are verified with it instead of the secret. */
  AUTH_JWT_PUBLIC_KEY: z.string().optional(),
  /** JWKS URL; when set, tokens are verified against its keys. */
  AUTH_JWKS_URL: z.string().url().optional(),
  AUTH_JWT_ISSUER: z.string().min(1).default('viewing-history'),
  AUTH_JWT_AUDIENCE: z.string().min(1).default('viewing-history'),

  /**
   * Profile keys (crypto-shredding, docs/adr/0009): the keyspace holding each profile's data key and the
   * erasure ledger. Apart from CASSANDRA_KEYSPACE on purpose: a replay or restore into another history
   * keyspace must find the same keys, and a restored history keyspace must not bring erased keys back.
   */
  PROFILE_KEYS_KEYSPACE: cqlName('viewing_history_keys'),
  /**
   * The master key (base64 of 32 bytes) that wraps every profile's data key. The default is for local use
   * only: set your own (from a secret store) in production.
   */
  PROFILE_KEYS_MASTER_KEY: z
    .string()
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'must be the base64 of 32 bytes')
    .default('bG9jYWwtb25seS1tYXN0ZXIta2V5LWRvLW5vdC11c2U='),
  /** How long a process keeps a profile's key in memory; bounds how long after an erasure a stale key is used. */
  PROFILE_KEYS_CACHE_MS: int(30_000, 0, 10 * 60_000),
  /**
   * The form sealed events are written in (docs/event-log.md): `binary`, or `json`, the form before it, which a
   * reader of an older build still reads. `json` on every writer (collector, API, ingest, CLI) while any older
   * reader runs, during an upgrade from a build before the binary form (docs/operations.md).
   */
  SEALED_EVENT_FORMAT: z.enum(['binary', 'json']).default('binary'),
  /**
   * The grace of an erased key (docs/adr/0009): never used to seal, opened only for events a collector sealed
   * with its cached copy and that lie after the erasure's mark. Covers PROFILE_KEYS_CACHE_MS and the publish
   * timeout (no longer ingest's lag: the key is destroyed only once ingest committed past it). Judged by
   * Cassandra alone (a TTL).
   */
  PROFILE_KEYS_SHREDDING_MS: int(24 * 3_600_000, 0, 24 * 3_600_000),
  /** How often ingest looks for shredding keys to destroy (grace over and ingest past them). */
  PROFILE_KEYS_SWEEP_MS: int(60_000, 100, 3_600_000),
  /**
   * The lease of an erasure (docs/adr/0009): renewed before each of its steps; once it runs out without a
   * mark, ingest's sweep finishes the erasure itself. Must cover the longest single step (a Cassandra request
   * with its retries, the publish timeout). Judged by Cassandra alone (a TTL).
   */
  PROFILE_ERASURE_LEASE_MS: int(300_000, 1_000, 3_600_000),

  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Environment = z.infer<typeof environmentSchema>;

/** Typed configuration, grouped by what it configures. Injected as a class token. */
export class AppConfig {
  constructor(
    readonly kafka: {
      brokers: string[];
      clientId: string;
      eventTopic: string;
      deadLetterTopic: string;
      eventTopicPartitions: number;
      replicationFactor: number;
      eventTopicRetentionMs: number;
      deadLetterTopicRetentionMs: number;
    },
    readonly ingest: {
      groupId: string;
      partitionsConsumedConcurrently: number;
      writeConcurrency: number;
      retryBudgetMs: number;
      pauseMs: number;
      unrecognisedRefusalAttempts: number;
      unrecognisedRefusalMinMs: number;
      sessionTimeoutMs: number;
    },
    readonly cassandra: {
      contactPoints: string[];
      localDataCenter: string;
      keyspace: string;
      /** Replicas per datacenter (NetworkTopologyStrategy), the local one always among them. */
      replication: Readonly<Record<string, number>>;
      readConsistency: (typeof CONSISTENCY_LEVELS)[number];
      writeConsistency: (typeof CONSISTENCY_LEVELS)[number];
      requestTimeoutMs: number;
    },
    readonly redis: { url: string },
    readonly http: {
      collectorPort: number;
      apiPort: number;
      ingestPort: number;
      compactorPort: number;
      /** HTTP_BODY_LIMIT in bytes, as Express's body parser read it (kb = 1,024 bytes, mb = 1,024 kb). */
      bodyLimitBytes: number;
      maxInFlight: number;
      inFlightLimitMode: 'adaptive' | 'fixed';
      inFlightTolerance: number;
      maxEventLoopDelayMs: number;
      shutdownTimeoutMs: number;
      consoleSessionTtlSeconds: number;
      consoleCookieSecure: 'auto' | 'always';
    },
    readonly events: { maxBatchSize: number; maxClockSkewMs: number; maxEventAgeMs: number },
    readonly history: {
      defaultPageSize: number;
      maxPageSize: number;
      batchMaxProfiles: number;
      exportTokenRanges: number;
      exportIndexMaxDays: number;
      breakerFailures: number;
      breakerOpenMs: number;
    },
    readonly compaction: {
      minAgeMs: number;
      liveEventsTrigger: number;
      readTriggerWindowMs: number;
      chunkMaxBytes: number;
      zstdLevel: number;
      /** 0: no dictionary. */
      zstdDictionary: number | 'latest';
      recordEncoding: 'vh-columnar-v2' | 'vh-columnar-v3';
      chunkSetGraceMs: number;
      deleteMarginMs: number;
      /** Infinity: forever. */
      trailRetentionMs: number;
      concurrency: number;
      attempts: number;
      lockMs: number;
      schedule: string;
      sweepDays: number;
      queue: string;
      cacheMaxBytes: number;
      failPoint: 'none' | 'after-chunks' | 'after-switch';
    },
    readonly auth: { secret: string; publicKey?: string; jwksUrl?: string; issuer: string; audience: string },
    readonly logLevel: Environment['LOG_LEVEL'],
    readonly profileKeys: {
      keyspace: string;
      masterKey: Buffer;
      cacheMs: number;
      sealedEventFormat: 'binary' | 'json';
      shreddingMs: number;
      sweepMs: number;
      erasureLeaseMs: number;
    },
  ) {}

  /** A copy with some sections changed (a replay's own consumer group, a target keyspace...). */
  with(changes: { [K in 'kafka' | 'ingest' | 'cassandra']?: Partial<AppConfig[K]> }): AppConfig {
    return new AppConfig(
      { ...this.kafka, ...changes.kafka },
      { ...this.ingest, ...changes.ingest },
      { ...this.cassandra, ...changes.cassandra },
      this.redis,
      this.http,
      this.events,
      this.history,
      this.compaction,
      this.auth,
      this.logLevel,
      this.profileKeys,
    );
  }
}

export class InvalidConfigurationError extends ViewingHistoryError {
  readonly code = 'invalid_configuration';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Reads and validates the environment; throws InvalidConfigurationError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    throw new InvalidConfigurationError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.HISTORY_PAGE_DEFAULT > e.HISTORY_PAGE_MAX)
    problems.push('HISTORY_PAGE_DEFAULT: must not exceed HISTORY_PAGE_MAX');
  // Compaction may only roll up a past that no accepted event can still reach.
  if (e.COMPACTION_MIN_AGE_MS <= e.EVENT_MAX_AGE_MS)
    problems.push('COMPACTION_MIN_AGE_MS: must exceed EVENT_MAX_AGE_MS');
  const replication = replicationOf(e);
  // LOCAL_QUORUM needs replicas in the datacenter the process talks to.
  if (!(e.CASSANDRA_LOCAL_DC in replication))
    problems.push(`CASSANDRA_REPLICATION: names no replicas in CASSANDRA_LOCAL_DC (${e.CASSANDRA_LOCAL_DC})`);
  if (problems.length) throw new InvalidConfigurationError(problems);
  return new AppConfig(
    {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      eventTopic: e.EVENT_TOPIC,
      deadLetterTopic: e.DEAD_LETTER_TOPIC,
      eventTopicPartitions: e.EVENT_TOPIC_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
      eventTopicRetentionMs: e.EVENT_TOPIC_RETENTION_MS,
      deadLetterTopicRetentionMs: e.DEAD_LETTER_TOPIC_RETENTION_MS,
    },
    {
      groupId: e.INGEST_GROUP_ID,
      partitionsConsumedConcurrently: e.INGEST_PARTITIONS_CONCURRENTLY,
      writeConcurrency: e.INGEST_WRITE_CONCURRENCY,
      retryBudgetMs: e.INGEST_RETRY_BUDGET_MS,
      pauseMs: e.INGEST_PAUSE_MS,
      unrecognisedRefusalAttempts: e.INGEST_UNRECOGNISED_REFUSAL_ATTEMPTS,
      unrecognisedRefusalMinMs: e.INGEST_UNRECOGNISED_REFUSAL_MIN_MS,
      sessionTimeoutMs: e.INGEST_SESSION_TIMEOUT_MS,
    },
    {
      contactPoints: e.CASSANDRA_CONTACT_POINTS,
      localDataCenter: e.CASSANDRA_LOCAL_DC,
      keyspace: e.CASSANDRA_KEYSPACE,
      replication,
      readConsistency: e.CASSANDRA_READ_CONSISTENCY,
      writeConsistency: e.CASSANDRA_WRITE_CONSISTENCY,
      requestTimeoutMs: e.CASSANDRA_REQUEST_TIMEOUT_MS,
    },
    { url: e.REDIS_URL },
    {
      collectorPort: e.COLLECTOR_PORT,
      apiPort: e.API_PORT,
      ingestPort: e.INGEST_PORT,
      compactorPort: e.COMPACTOR_PORT,
      bodyLimitBytes: parseInt(e.HTTP_BODY_LIMIT, 10) * (e.HTTP_BODY_LIMIT.endsWith('mb') ? 1024 * 1024 : 1024),
      maxInFlight: e.HTTP_MAX_IN_FLIGHT,
      inFlightLimitMode: e.HTTP_IN_FLIGHT_LIMIT,
      inFlightTolerance: e.HTTP_IN_FLIGHT_TOLERANCE,
      maxEventLoopDelayMs: e.HTTP_MAX_EVENT_LOOP_DELAY_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      consoleSessionTtlSeconds: e.CONSOLE_SESSION_TTL_SECONDS,
      consoleCookieSecure: e.CONSOLE_COOKIE_SECURE,
    },
    { maxBatchSize: e.EVENT_BATCH_MAX, maxClockSkewMs: e.EVENT_MAX_CLOCK_SKEW_MS, maxEventAgeMs: e.EVENT_MAX_AGE_MS },
    {
      defaultPageSize: e.HISTORY_PAGE_DEFAULT,
      maxPageSize: e.HISTORY_PAGE_MAX,
      batchMaxProfiles: e.HISTORY_BATCH_MAX_PROFILES,
      exportTokenRanges: e.HISTORY_EXPORT_TOKEN_RANGES,
      exportIndexMaxDays: e.HISTORY_EXPORT_INDEX_MAX_DAYS,
      breakerFailures: e.READ_BREAKER_FAILURES,
      breakerOpenMs: e.READ_BREAKER_OPEN_MS,
    },
    {
      minAgeMs: e.COMPACTION_MIN_AGE_MS,
      liveEventsTrigger: e.COMPACTION_LIVE_EVENTS_TRIGGER,
      readTriggerWindowMs: e.COMPACTION_READ_TRIGGER_WINDOW_MS,
      chunkMaxBytes: e.COMPACTION_CHUNK_MAX_BYTES,
      zstdLevel: e.COMPACTION_ZSTD_LEVEL,
      zstdDictionary: e.COMPACTION_ZSTD_DICTIONARY,
      recordEncoding: e.COMPACTION_RECORD_ENCODING,
      chunkSetGraceMs: e.COMPACTION_GRACE_MS,
      deleteMarginMs: e.COMPACTION_DELETE_MARGIN_MS,
      trailRetentionMs:
        e.COMPACTION_TRAIL_RETENTION_DAYS === 0 ? Number.POSITIVE_INFINITY : e.COMPACTION_TRAIL_RETENTION_DAYS * DAY_MS,
      concurrency: e.COMPACTION_CONCURRENCY,
      attempts: e.COMPACTION_ATTEMPTS,
      lockMs: e.COMPACTION_LOCK_MS,
      schedule: e.COMPACTION_SCHEDULE,
      sweepDays: e.COMPACTION_SWEEP_DAYS,
      queue: e.COMPACTION_QUEUE,
      cacheMaxBytes: e.COMPRESSED_CACHE_MAX_BYTES,
      failPoint: e.COMPACTION_FAIL_POINT,
    },
    {
      secret: e.AUTH_JWT_SECRET,
      publicKey: e.AUTH_JWT_PUBLIC_KEY,
      jwksUrl: e.AUTH_JWKS_URL,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
    },
    e.LOG_LEVEL,
    {
      keyspace: e.PROFILE_KEYS_KEYSPACE,
      masterKey: Buffer.from(e.PROFILE_KEYS_MASTER_KEY, 'base64'),
      cacheMs: e.PROFILE_KEYS_CACHE_MS,
      sealedEventFormat: e.SEALED_EVENT_FORMAT,
      shreddingMs: Math.max(e.PROFILE_KEYS_SHREDDING_MS, e.PROFILE_KEYS_CACHE_MS),
      sweepMs: e.PROFILE_KEYS_SWEEP_MS,
      erasureLeaseMs: e.PROFILE_ERASURE_LEASE_MS,
    },
  );
}

function replicationOf(e: Environment): Record<string, number> {
  if (e.CASSANDRA_REPLICATION === undefined) return { [e.CASSANDRA_LOCAL_DC]: e.CASSANDRA_REPLICATION_FACTOR };
  const replication: Record<string, number> = {};
  for (const pair of e.CASSANDRA_REPLICATION.split(',')) {
    const [dataCenter, replicas] = pair.trim().split(':');
    replication[dataCenter] = Number(replicas);
  }
  return replication;
}

/** Whether the keyspaces replicate to more than one datacenter (two regions, docs/adr/0012). */
export function spansSeveralDataCenters(config: AppConfig): boolean {
  return Object.keys(config.cassandra.replication).length > 1;
}

const QUORUM_LEVELS: readonly string[] = ['LOCAL_QUORUM', 'QUORUM', 'EACH_QUORUM', 'ALL'];

/**
 * Whether both reads and writes are quorum-level, so that a read sees every write acknowledged before it: only
 * then does a row not found mean a row not written (at ONE a read may hit a replica the write has not reached).
 */
export function readsSeeAcknowledgedWrites(config: AppConfig): boolean {
  const { readConsistency, writeConsistency } = config.cassandra;
  return QUORUM_LEVELS.includes(readConsistency) && QUORUM_LEVELS.includes(writeConsistency);
}
