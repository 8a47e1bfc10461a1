import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import { LiveHistoryProfileWalk, ProfileActivityDays, SweepWatermark, SweepWatermarkStore } from '@vh/storage';

const DAY_MS = 86_400_000;
/** The activity indexes keep a row 90 days (their TTL): a watermark older than that cannot trust them. */
const INDEX_TTL_MS = 90 * DAY_MS;
/** Token ranges of a walk of the live table: small ranges keep each query short. */
const TOKEN_RANGES = 64;
/** The one scheduled sweep's watermark row. */
export const SCHEDULED_SWEEP = 'scheduled';
/** Arrival days read again before the watermark's: more than any write delay or skew of two service clocks. */
const ARRIVAL_DAY_MARGIN_MS = DAY_MS;
/** Profiles remembered within one sweep to skip enqueueing twice (the queue deduplicates anyway). */
const SEEN_MAX = 1_000_000;

export type SweepScope = 'profiles' | 'all' | 'since-watermark';

/** The profiles a sweep enqueues, and why: operators read the reason in the job's status. */
export interface SweepPlan {
  scope: SweepScope;
  reason: string;
  profiles: AsyncIterable<string>;
  /** Records how far the sweep got; call once every profile is enqueued (never for a dry run). */
  complete(): Promise<void>;
}

/**
 * Compaction candidates. "All" walks the live table itself: the activity index expires after 90 days
 * and cannot list its days, the live table is the truth. The scheduled sweep resumes from a persisted
 * watermark: every event day since (however long the compactor was down), plus the profiles that
 * received events of days already swept (a backfill), by arrival day (issue 11 §6).
 */
@Injectable()
export class CompactionCandidates {
  constructor(
    private readonly activity: ProfileActivityDays,
    private readonly partitions: LiveHistoryProfileWalk,
    private readonly watermarks: SweepWatermarkStore,
    private readonly config: AppConfig,
  ) {}

  given(profileIds: string[]): SweepPlan {
    return {
      scope: 'profiles',
      reason: `the ${profileIds.length} profiles given`,
      profiles: (async function* () {
        yield* new Set(profileIds);
      })(),
      complete: async () => undefined,
    };
  }

  /** Every profile with live history older than the compaction age, and every profile the daily sweep visits. */
  all(now = Date.now()): SweepPlan {
    const cutoff = now - this.config.compaction.minAgeMs;
    return {
      scope: 'all',
      reason:
        `every profile with live history before ${iso(cutoff)} (COMPACTION_MIN_AGE_MS ago), ` +
        `found by walking the live table in ${TOKEN_RANGES} token ranges, and every profile with auto-delete or paused recording`,
      profiles: distinct([
        this.partitions.profilesWithEventsBefore(cutoff, TOKEN_RANGES),
        this.activity.profilesSweptDaily(),
      ]),
      complete: () => this.watermarks.write(SCHEDULED_SWEEP, this.reached(now)),
    };
  }

  /** What the scheduled sweep has not swept yet. */
  async sinceWatermark(now = Date.now()): Promise<SweepPlan> {
    const watermark = await this.watermarks.read(SCHEDULED_SWEEP);
    if (!watermark)
      return { ...this.all(now), scope: 'since-watermark', reason: `no watermark yet: ${this.all(now).reason}` };
    const horizon = now - INDEX_TTL_MS + DAY_MS;
    if (Math.min(watermark.eventDaysBefore, watermark.arrivalDaysBefore) < horizon) {
      return {
        ...this.all(now),
        scope: 'since-watermark',
        reason: `watermark ${iso(watermark.eventDaysBefore)} is older than the activity index keeps: ${this.all(now).reason}`,
      };
    }
    const { minAgeMs, sweepDays } = this.config.compaction;
    const newestDay = startOfDay(now - minAgeMs);
    // Never fewer than COMPACTION_SWEEP_DAYS event days: recent ones are looked at again, cheaply.
    const eventDays = daysBetween(Math.min(watermark.eventDaysBefore, newestDay - (sweepDays - 1) * DAY_MS), newestDay);
    // The day before the watermark's again: an arrival row stamped just before midnight can land after a
    // sweep run just after it read that day (a write in flight or retried, or an ingest whose clock is a
    // little behind this one's: arrival days are ingest's clock, the watermark ours; invariant 6).
    const arrivalDays = daysBetween(watermark.arrivalDaysBefore - ARRIVAL_DAY_MARGIN_MS, startOfDay(now));
    // Auto-delete periods are months: a daily visit removes what ages past them within a day of it doing so;
    // a session a pause hides goes within a day of its first acceptance passing COMPACTION_MIN_AGE_MS (ADR 8).
    const firstOfDay = startOfDay(watermark.sweptAt) < startOfDay(now);
    return {
      scope: 'since-watermark',
      reason:
        `profiles active on event days ${day(eventDays[0])}..${day(newestDay)} (watermark ${day(watermark.eventDaysBefore)}), ` +
        `and with events of earlier days that arrived on ${day(arrivalDays[0] ?? startOfDay(now))}..${day(startOfDay(now))}` +
        (firstOfDay ? `, and every profile with auto-delete or paused recording (first sweep of ${day(now)})` : ''),
      profiles: distinct([
        ...eventDays.map((d) => this.activity.profilesActiveOn(d)),
        ...arrivalDays.map((d) => this.activity.profilesArrivedLateOn(d)),
        ...(firstOfDay ? [this.activity.profilesSweptDaily()] : []),
      ]),
      complete: () => this.watermarks.write(SCHEDULED_SWEEP, this.reached(now)),
    };
  }

  /** Event days before the newest are complete (the newest is swept again); arrival days before today. */
  private reached(now: number): SweepWatermark {
    return {
      eventDaysBefore: startOfDay(now - this.config.compaction.minAgeMs),
      arrivalDaysBefore: startOfDay(now),
      sweptAt: now,
    };
  }
}

/** Each profile of the sources once (within SEEN_MAX; the queue deduplicates anyway), in source order. */
async function* distinct(sources: AsyncIterable<string>[]): AsyncGenerator<string> {
  const seen = new Set<string>();
  for (const source of sources) {
    for await (const profileId of source) {
      if (seen.has(profileId)) continue;
      if (seen.size >= SEEN_MAX) seen.clear();
      seen.add(profileId);
      yield profileId;
    }
  }
}

function startOfDay(instant: number): number {
  return Math.floor(instant / DAY_MS) * DAY_MS;
}

/** Start instants of the days from the one holding `from` to the one holding `to`, inclusive. */
function daysBetween(from: number, to: number): number[] {
  const days: number[] = [];
  for (let d = startOfDay(from); d <= startOfDay(to); d += DAY_MS) days.push(d);
  return days;
}

const iso = (instant: number) => new Date(instant).toISOString();
const day = (instant: number) => iso(instant).slice(0, 10);
