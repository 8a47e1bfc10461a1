import { Logger } from '@nestjs/common';
import { PAST_RECORDED_TOMBSTONE_US } from '@vh/storage';

/**
 * The write dates of the rows (live and activity-index) of profiles erased with a tombstone ahead of this
 * process's clock (ADR 9). An erasure at a mark dates its live tombstone at the newest write time it reads, which
 * may be another host's (one that processed the batch before and died, its clock ahead), and its index deletes
 * (key-only rows: no write time to read) no earlier, nor earlier than its own clock, perhaps ahead of ours: the
 * rows written after them must outlive both (invariants 2, 4 and 6). So, by profile and while it is ahead of our
 * clock, the date the next rows must be after: first the tombstone (the newest of the two dates), then the date of
 * the last rows written, each write one microsecond after the one before (a later copy never ties with one a
 * compaction deletes by key at its write time, nor with a later erasure's tombstone). A process taking partitions
 * over starts from the tombstones on record.
 */
export class WriteDatesAfterErasures {
  private readonly afterUs = new Map<string, number>();
  /** Set once the recorded tombstones were read since the last assignment; shared by partitions handled at once. */
  private recordRead: Promise<void> | null = null;

  constructor(
    /** The recorded tombstones still ahead of our clock, by profile (StoredHistoryEraser.erasureTombstonesAhead). */
    private readonly recorded: () => Promise<ReadonlyMap<string, number>>,
    /** Hosts are assumed within one delete margin of each other (planLiveRowDeletes): a tombstone further ahead is logged. */
    private readonly deleteMarginMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * The partitions changed: one taken over may hold a profile another process erased, whose memory of the
   * tombstone went with it (a rebalance, a crash). Read the record again before the next write.
   */
  reassigned(): void {
    this.recordRead = null;
  }

  /** Reads the recorded tombstones once per assignment; throws when they cannot be read (nothing may be written). */
  async readRecord(): Promise<void> {
    const reading = (this.recordRead ??= this.recorded().then((ahead) => {
      // Past anything the previous owner dated off the tombstone: no tie with its rows.
      for (const [profileId, tombstoneUs] of ahead) this.raise(profileId, tombstoneUs + PAST_RECORDED_TOMBSTONE_US);
      // The erasing host dates its index deletes at least at its own clock, so it cannot see its own clock ahead:
      // those reading the record can (review, session 12). Once per assignment, as a summary.
      const beyondMarginMs = [...ahead.values()]
        .map((us) => us / 1000 - Date.now())
        .filter((ms) => ms > this.deleteMarginMs);
      if (beyondMarginMs.length > 0)
        this.logger.warn(
          `${beyondMarginMs.length} profile(s) erased with a tombstone up to ${Math.round(Math.max(...beyondMarginMs) / 1000)} s ` +
            "ahead of this host's clock, more than the delete margin: an ingest host’s clock runs ahead",
        );
    }));
    try {
      await reading;
    } catch (error) {
      if (this.recordRead === reading) this.recordRead = null; // read again with the next batch
      throw error;
    }
  }

  /** The dates still ahead of our clock, a copy; those behind it are forgotten (the driver's write time is later). */
  ahead(): ReadonlyMap<string, number> | undefined {
    if (this.afterUs.size === 0) return undefined;
    const nowUs = Date.now() * 1000;
    for (const [profileId, afterUs] of this.afterUs) if (afterUs < nowUs) this.afterUs.delete(profileId);
    return this.afterUs.size === 0 ? undefined : new Map(this.afterUs);
  }

  /** Rows of these profiles were written one past their date (`ahead`): the next ones one past that. */
  wrote(profileIds: Iterable<string>): void {
    for (const profileId of profileIds) {
      const lastUs = this.afterUs.get(profileId);
      if (lastUs !== undefined) this.afterUs.set(profileId, lastUs + 1); // else our clock passed it meanwhile
    }
  }

  /** This process erased the profile with a tombstone (or found one on record) at `tombstoneUs`. */
  erased(profileId: string, tombstoneUs: number): void {
    const afterUs = this.raise(profileId, tombstoneUs);
    const aheadMs = afterUs / 1000 - Date.now();
    if (aheadMs > this.deleteMarginMs)
      this.logger.warn(
        `${profileId}: an erasure's tombstone is dated ${Math.round(aheadMs / 1000)} s ahead of this host's clock, ` +
          'more than the delete margin: an ingest host’s clock runs ahead',
      );
  }

  private raise(profileId: string, afterUs: number): number {
    const raised = Math.max(this.afterUs.get(profileId) ?? 0, afterUs);
    this.afterUs.set(profileId, raised);
    return raised;
  }
}
