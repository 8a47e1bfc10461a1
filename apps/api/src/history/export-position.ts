import { z } from 'zod/v4';
import { ChangeKey, InvalidInputError } from '@vh/domain';
import { ACTIVITY_SHARDS, ChangedProfilesPosition } from '@vh/storage';

export type ExportWalk = ChangedProfilesPosition['walk'];

/**
 * Where an export stands after one of its lines, and what it counted so far. Carried by every line as an
 * opaque token, so that a job whose connection drops resumes after the last line it received (`after=`),
 * and the resumed export's closing line still counts the whole export and keeps its first instant.
 */
export interface ExportProgress {
  since: number;
  /** The instant the first connection started: the export holds everything stored before it. */
  startedAt: number;
  walk: ExportWalk;
  /** The profile of the last line; null before the first. */
  at: ChangedProfilesPosition | null;
  /** The last record written of that profile; null once the profile is done. */
  /** The last record sent of the profile at `at` (in change order), null once it is done. */
  record: ChangeKey | null;
  profiles: number;
  records: number;
  failures: number;
}

const DAY_MS = 86_400_000;
const WALK_CODES = { 'activity-index': 'a', 'token-ranges': 't' } as const;
const count = z.number().int().min(0);
const instant = z.number().int();
/** 2: the activity walk's position is (shard, profile); a version-1 token (day, shard, profile) is refused. */
const TOKEN_VERSION = 2;
const tokenSchema = z.tuple([
  z.literal(TOKEN_VERSION),
  instant,
  instant,
  z.enum(['a', 't']),
  // The profile: activity (shard, id) or token (token, id); absent before the first line.
  z.union([
    z.tuple([
      z.literal('a'),
      z
        .number()
        .int()
        .min(0)
        .max(ACTIVITY_SHARDS - 1),
      z.string(),
    ]),
    z.tuple([z.literal('t'), z.string().regex(/^-?\d{1,19}$/), z.string()]),
    z.null(),
  ]),
  z.union([z.tuple([instant, z.string()]), z.null()]),
  count,
  count,
  count,
]);

export function encodePosition(p: ExportProgress): string {
  const at =
    p.at === null
      ? null
      : p.at.walk === 'activity-index'
        ? ['a', p.at.shard, p.at.profileId]
        : ['t', p.at.token, p.at.profileId];
  const record = p.record === null ? null : [p.record.lastEventAt, p.record.recordId];
  const tuple = [
    TOKEN_VERSION,
    p.since,
    p.startedAt,
    WALK_CODES[p.walk],
    at,
    record,
    p.profiles,
    p.records,
    p.failures,
  ];
  return Buffer.from(JSON.stringify(tuple)).toString('base64url');
}

/** What a position token must satisfy to be one the export could have written. */
export interface PositionRules {
  now: number;
  /** The oldest `since` the activity walk serves (HISTORY_EXPORT_INDEX_MAX_DAYS): older ones walk token ranges. */
  indexMaxDays: number;
  maxClockSkewMs: number;
}

/** A `since` after the start of the export would make every resume of it a 400 on `after`: refused at once. */
export function checkSince(since: number, now: number): void {
  if (since > now) throw new InvalidInputError([{ field: 'since', message: 'is in the future' }]);
}

/** The progress a line's position token stands for; a token this export did not write is a 400 on `after`. */
export function decodePosition(token: string, since: number, rules: PositionRules): ExportProgress {
  const invalid = (message: string) => new InvalidInputError([{ field: 'after', message }]);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('is not a position token of the export');
  }
  if (Array.isArray(raw) && Number.isInteger(raw[0]) && raw[0] < TOKEN_VERSION) {
    throw invalid('was written by an earlier version of the export: start it again');
  }
  const parsed = tokenSchema.safeParse(raw);
  if (!parsed.success) throw invalid('is not a position token of the export');
  const [, tokenSince, startedAt, walk, at, record, profiles, records, failures] = parsed.data;
  if (tokenSince !== since) throw invalid('belongs to an export with another since');
  if (at !== null && at[0] !== walk) throw invalid('is not a position token of the export');
  // A crafted instant would make the walk loop over ~10^8 days (a DoS), or walk the activity index
  // past its 90-day TTL and silently miss profiles (invariant 4): only what `begin` could have written passes.
  // The start is the clock of the instance that began the export, `now` that of the one resuming it: they
  // may differ by up to the allowed skew (invariant 6).
  if (startedAt > rules.now + rules.maxClockSkewMs || startedAt < since) {
    throw invalid('has a start outside since..now');
  }
  const recent = startedAt - since <= rules.indexMaxDays * DAY_MS;
  if ((walk === 'a') !== recent) throw invalid('has a walk that since does not select');
  return {
    since,
    startedAt,
    walk: walk === 'a' ? 'activity-index' : 'token-ranges',
    at:
      at === null
        ? null
        : at[0] === 'a'
          ? { walk: 'activity-index', shard: at[1], profileId: at[2] }
          : { walk: 'token-ranges', token: at[1], profileId: at[2] },
    record: record === null ? null : { lastEventAt: record[0], recordId: record[1] },
    profiles,
    records,
    failures,
  };
}
