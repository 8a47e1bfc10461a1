import { AppConfig } from '@vh/config';
import { ViewingEvent } from '@vh/domain';
import { RecentlyRecorded } from '@vh/storage';
import { liveRowsLeftRemovalDelayMs, MAX_ROW_DELETES } from './live-row-deletes';

/** Profiles remembered at once; a forgotten one is at worst asked for once more. */
const REMEMBER_MAX = 100_000;

/**
 * Decides when a read that found a large live partition asks for its roll-up (issue 12 §4). A request
 * costs the compactor a full read and decode of the profile, so it is made only when the job has work:
 * some live event is already older than the compaction age (else the job would answer 'up-to-date'
 * until the oldest event crosses that age, which this rule sees by itself on a later read), and at
 * most once per profile per window (a job that fails, or reads spread over many API instances).
 */
export class ReadPathCompactionTrigger {
  private readonly asked: RecentlyRecorded;

  constructor(
    private readonly config: AppConfig['compaction'],
    /** Asks for the profile's compaction, no sooner than `delayMs`. */
    private readonly request: (profileId: string, delayMs: number) => Promise<unknown>,
    private readonly onError: (profileId: string, error: Error) => void = () => undefined,
    now: () => number = Date.now,
  ) {
    this.asked = new RecentlyRecorded(REMEMBER_MAX, config.readTriggerWindowMs, now);
  }

  /**
   * Best effort and never waits: returns whether it asked. Also when more than MAX_ROW_DELETES live events are
   * older than the version's `compactedBefore`: rows a compaction left (planLiveRowDeletes) whose removal was
   * lost (a job failed, or dropped as a duplicate), or late events; either way the job has work.
   */
  onRead(profileId: string, live: readonly ViewingEvent[], compactedBefore: number | null, now = Date.now()): boolean {
    // Large counts what a compaction would roll up: events before compactedBefore are rows left or late events.
    const { rollable, oldestRollable } = rollableOf(live, compactedBefore);
    const large = rollable > this.config.liveEventsTrigger && oldestRollable < now - this.config.minAgeMs;
    if (!large && live.length - rollable <= MAX_ROW_DELETES) return false;
    if (this.asked.has(profileId)) return false;
    this.asked.add(profileId);
    // Rows a compaction left have their removal due within liveRowsLeftRemovalDelayMs; a run before it would leave
    // them again. Asked for after it, the request costs no run when that removal ran, and when it was lost the
    // run leaves them again with a removal of its own: they go about four margins after this read.
    const delayMs = large ? 0 : liveRowsLeftRemovalDelayMs(this.config.deleteMarginMs);
    this.request(profileId, delayMs).catch((error: Error) => this.onError(profileId, error));
    return true;
  }

  /**
   * A read found that a compaction is due: stored records the member's controls now hide for good (of a
   * removed title, or auto-deleted or begun while paused before the compaction cutoff, ADR 8), which it
   * removes physically, or a settled record live events touch, whose trail it rebuilds from the event log
   * (ADR 6). Once per profile per window, like onRead.
   */
  onCompactionDue(profileId: string): boolean {
    if (this.asked.has(profileId)) return false;
    this.asked.add(profileId);
    this.request(profileId, 0).catch((error: Error) => this.onError(profileId, error));
    return true;
  }
}

/**
 * The live events at or after `compactedBefore` (all without a version), counted with the oldest of them in one
 * loop, no copy: every page read asks. A loop, not Math.min(...): a partition can hold more events than a call
 * takes arguments.
 */
function rollableOf(events: readonly ViewingEvent[], compactedBefore: number | null) {
  let rollable = 0;
  let oldestRollable = Number.POSITIVE_INFINITY;
  for (const e of events) {
    if (compactedBefore !== null && e.occurredAt < compactedBefore) continue;
    rollable++;
    if (e.occurredAt < oldestRollable) oldestRollable = e.occurredAt;
  }
  return { rollable, oldestRollable };
}
