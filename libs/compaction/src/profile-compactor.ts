import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, readsSeeAcknowledgedWrites, spansSeveralDataCenters } from '@vh/config';
import {
  acceptanceOf,
  compactHistory,
  compactedBeforeOf,
  EMPTY_MEMBER_CONTROLS,
  erasedSince,
  isPlaybackEvent,
  MemberControls,
  NamedSettings,
  pausesFinishedBy,
  settledSessionsTouched,
  SettledSessionNotRebuiltError,
  CompressedHistory,
  ViewingEvent,
  withTrailsFromEventLog,
} from '@vh/domain';
import { CompressedHistoryCompactionStore, DailySweepNamed, LiveHistoryCompactionStore } from '@vh/storage';
import { chunkDictionaryId, describeVersion, encodeVersion } from './compressed-version.encoding';
import { LiveRowDeletes, planLiveRowDeletes } from './live-row-deletes';
import { ProfileEventsSource } from './profile-events.source';

export type CompactionStatus = 'compacted' | 'up-to-date' | 'lost-race' | 'dry-run';

export interface CompactionOutcome {
  profileId: string;
  status: CompactionStatus;
  fromVersion: number | null;
  toVersion: number | null;
  cutoff: string;
  liveEventsRolledUp: number;
  /** Live rows already in the compressed version (left by a crash before the range delete), removed now. */
  leftoverLiveRowsRemoved: number;
  /**
   * Rolled-up live rows left in place (MAX_ROW_DELETES): written within the delete margin, too many to delete
   * one by one. The follow-up run given `liveRowsLeftThroughUs` removes them with one range tombstone.
   */
  liveRowsLeft: number;
  /** The newest write time (microseconds) among the rows left; null when none is left. */
  liveRowsLeftThroughUs: number | null;
  /** Live playback events older than the version's compactedBefore and not in it, folded in by this version. */
  lateEvents: number;
  /** Settled records that live events touched, their trails rebuilt from the event log (ADR 6). */
  settledRecordsRebuilt: number;
  /** Records settled by this version (their trails dropped). */
  recordsSettled: number;
  records: number;
  removedRecordIds: number;
  chunks: number;
  rawBytes: number;
  storedBytes: number;
  garbageChunkSetsRemoved: number;
  /** Chunk sets kept for now (within their grace period): a later garbage collection removes them. */
  garbageChunkSetsWaiting: number;
  durationMs: number;
}

export type CompactionStep = 'read' | 'encoded' | 'after-chunks' | 'after-switch' | 'done';

/**
 * Rolls one profile's live events older than the compaction age into a new compressed version.
 *
 * Every step leaves reads correct, whenever a crash stops it:
 * 1. write a new chunk set (not yet visible; an orphan if we stop here, removed later);
 * 2. switch the metadata to it with a conditional update on the version we read (two workers cannot
 *    both win; the loser removes its chunk set);
 * 3. range-delete the rolled-up live rows (until then readers find them in the session trails and
 *    count them once); the tombstone is older than the read, so a late row written since survives; many
 *    rows written within the delete margin are left to a follow-up run (planLiveRowDeletes);
 * 4. old chunk sets are removed after a grace period, for readers holding the old metadata; one a crash
 *    left unmarked after the switch is marked by the next run's garbage collection (see collectGarbage).
 */
@Injectable()
export class ProfileCompactor {
  private readonly logger = new Logger(ProfileCompactor.name);
  /** The dictionary new chunks are compressed with; checked here so a bad setting fails at start-up. */
  private readonly dictionaryId: number;

  constructor(
    private readonly live: LiveHistoryCompactionStore,
    private readonly compressed: CompressedHistoryCompactionStore,
    private readonly config: AppConfig,
    /** Without it nothing is settled, and a settled record touched by a live event fails its compaction. */
    private readonly eventLog?: ProfileEventsSource,
  ) {
    this.dictionaryId = chunkDictionaryId(config.compaction.zstdDictionary);
  }

  async compact(
    profileId: string,
    options: {
      dryRun?: boolean;
      now?: number;
      onStep?: (step: CompactionStep) => Promise<void> | void;
      /** This run follows one that left rows (its `liveRowsLeftThroughUs`), at least liveRowsLeftRemovalDelayMs later. */
      liveRowsLeftThroughUs?: number;
    } = {},
  ): Promise<CompactionOutcome> {
    const started = Date.now();
    const now = options.now ?? started;
    const step = async (name: CompactionStep) => options.onStep?.(name);
    const { chunkMaxBytes, zstdLevel, recordEncoding, minAgeMs, deleteMarginMs } = this.config.compaction;

    // Before the history: what the daily sweep's row names that this read then does not find was erased (ADR 9).
    const namedForSweep = await this.namedForDailySweep(profileId, options.dryRun === true);
    // The compactor reads the truth, not the cache, with the trails that late events are merged into.
    const { version: current, history: storedHistory } = await this.compressed.read(profileId, {
      useCache: false,
      withTrails: true,
    });
    const garbage = options.dryRun ? { removed: 0, waiting: 0 } : await this.compressed.collectGarbage(profileId, now);
    // The deletes are dated by the rows' own write times, not our clock (invariant 6; see planLiveRowDeletes).
    const liveRead = await this.live.readProfile(profileId, { withWriteTime: true });
    const liveEvents = liveRead.events;
    const deletesBefore = (instant: number) =>
      planLiveRowDeletes(liveRead, instant, deleteMarginMs, options.liveRowsLeftThroughUs);
    const deleteRolledUp = async (instant: number): Promise<LiveRowDeletes> => {
      const deletes = deletesBefore(instant);
      await this.live.deleteBefore(profileId, instant, deletes.tombstoneUs, deletes.byKey);
      if (deletes.left > 0)
        this.logger.log(
          `${profileId}: ${deletes.left} rolled-up live rows within the delete margin left for a follow-up`,
        );
      return deletes;
    };

    // A settled record touched by live events (a late event, a re-stamped retry) is folded again from its
    // events on the log: nothing is taken as counted without its events (invariant 1; ADR 6).
    const settled = settledSessionsTouched(storedHistory, liveEvents);
    if (settled.length > 0) {
      // Across regions a session's events may sit in the other region's log, which we cannot read.
      const why =
        this.eventLog === undefined
          ? 'this compactor has no event log to rebuild from'
          : spansSeveralDataCenters(this.config)
            ? 'several datacenters: part of their events may be in another region’s event log'
            : null;
      if (why !== null) throw new SettledSessionNotRebuiltError(profileId, settled, why);
      this.logger.log(`${profileId}: ${settled.length} settled record(s) touched, rebuilt from the event log`);
    }
    const history =
      settled.length > 0
        ? withTrailsFromEventLog(storedHistory, await this.eventLog!.eventsOf(profileId), settled)
        : storedHistory;
    // Their live events are counted as late (a re-delivery of one of them too: it cannot be told apart).
    const lateInSettled = lateEventsOfSettled(history, storedHistory, liveEvents, settled);
    await step('read');

    // Auto-delete is judged at our clock minus the margin: we never remove a record that a reader whose
    // clock runs up to the margin behind ours still shows (invariant 3); the next run removes it.
    // Rows left in place are counted by the version: their records keep their trails until the follow-up
    // removes them, else the follow-up would find them touching settled records and rebuild those from the log.
    const cutoff = now - minAgeMs;
    const leavesRows = deletesBefore(compactedBeforeOf(history, cutoff)).left > 0;
    const next = compactHistory(history, liveEvents, cutoff, {
      settleBefore: leavesRows ? undefined : this.settleBefore(now),
      now: now - deleteMarginMs,
    });
    const alreadyCompacted = history.compactedBefore ?? Number.NEGATIVE_INFINITY;
    // Late events (before alreadyCompacted, not in a trail) are new to the history: they need a version.
    const leftovers = liveEvents.filter((e) => e.occurredAt < alreadyCompacted).length - next.lateEvents;
    const rolledUp =
      liveEvents.filter((e) => e.occurredAt >= alreadyCompacted && e.occurredAt < next.compactedBefore!).length +
      next.lateEvents;
    const outcome = (status: CompactionStatus, extra: Partial<CompactionOutcome> = {}): CompactionOutcome => ({
      profileId,
      status,
      fromVersion: current?.version ?? null,
      toVersion: current?.version ?? null,
      cutoff: new Date(next.compactedBefore!).toISOString(),
      liveEventsRolledUp: rolledUp,
      leftoverLiveRowsRemoved: 0,
      liveRowsLeft: 0,
      liveRowsLeftThroughUs: null,
      lateEvents: 0,
      settledRecordsRebuilt: settled.length,
      recordsSettled: 0,
      records: next.records.length,
      removedRecordIds: next.removedRecordIds.length,
      chunks: (current?.chunkCount ?? 0) + (current?.trailChunkCount ?? 0),
      rawBytes: current?.rawBytes ?? 0,
      storedBytes: current?.storedBytes ?? 0,
      garbageChunkSetsRemoved: garbage.removed,
      garbageChunkSetsWaiting: garbage.waiting,
      durationMs: Date.now() - started,
      ...extra,
    });
    if (rolledUp === 0 && !next.changed && settled.length === 0) {
      // Nothing new to roll up; rows a crash left behind are already counted, so just remove them. A late
      // removal, clear or replaced copy changes the history (next.changed): it needs a version (invariant 3),
      // as does a rebuilt settled record (its stored form lacks what the log added).
      const deletes = leftovers > 0 && !options.dryRun ? await deleteRolledUp(alreadyCompacted) : null;
      // The stored version is the whole truth read (nothing changed): judged by its own compactedBefore, so that a
      // profile that paused before this rule existed, compressed long since, leaves the daily sweep too.
      if (!options.dryRun && history.compactedBefore !== null)
        await this.notePausesFinished(profileId, history, history.compactedBefore, liveEvents, namedForSweep);
      await this.noteErased(profileId, namedForSweep, history.controls, current?.version ?? null);
      return outcome('up-to-date', {
        leftoverLiveRowsRemoved: deletes === null ? 0 : Math.max(0, leftovers - deletes.left),
        ...liveRowsLeftOf(deletes),
      });
    }

    const encoded = await encodeVersion(next, {
      chunkMaxBytes,
      zstdLevel,
      dictionaryId: this.dictionaryId,
      recordEncoding,
    });
    const stored = encoded.stored;
    const sizes = { chunks: stored.length, rawBytes: encoded.rawBytes, storedBytes: encoded.storedBytes };
    await step('encoded');
    const counts = { lateEvents: next.lateEvents + lateInSettled, recordsSettled: next.settled };
    if (options.dryRun) return outcome('dry-run', { ...sizes, ...counts });

    const toVersion = (current?.version ?? 0) + 1;
    const written = await this.compressed.writeChunkSet(profileId, stored, toVersion);
    await step('after-chunks');
    const version = describeVersion(profileId, toVersion, written, encoded, next, this.dictionaryId, now);
    if (!(await this.compressed.switchVersion(current?.version ?? null, version, namedForSweep ?? undefined))) {
      await this.compressed.deleteChunkSet(profileId, written.chunkSet, stored.length);
      this.logger.warn(`${profileId}: another compaction switched version ${current?.version ?? 'none'} first`);
      return outcome('lost-race');
    }
    await step('after-switch');
    if (counts.lateEvents > 0) this.logger.log(`${profileId}: ${counts.lateEvents} late event(s) folded in`);
    if (current) await this.compressed.markSuperseded(profileId, current.chunkSet);
    const deletes = await deleteRolledUp(next.compactedBefore!);
    await this.notePausesFinished(profileId, next, next.compactedBefore!, liveEvents, namedForSweep);
    await this.noteErased(profileId, namedForSweep, next.controls, version.version);
    await step('done');
    return outcome('compacted', { ...sizes, toVersion: version.version, ...counts, ...liveRowsLeftOf(deletes) });
  }

  /**
   * The pauses this compaction finished leave the daily sweep (`pausesFinishedBy`, ADR 8). Noted once the version
   * is current and the rows it rolled up are deleted: what those pauses hid is gone then, but for rows still live,
   * whose activity rows bring the compaction that removes them. Only the pauses it read: one noted since, even
   * while this process stalled, keeps the profile in the sweep. Those the row read before the history already
   * holds finished are not written again (review of issue 15: every compaction rewrote them all).
   */
  private async notePausesFinished(
    profileId: string,
    version: { controls?: MemberControls | null; records: readonly { firstAcceptedAt: number }[] },
    compactedBefore: number,
    liveEvents: readonly ViewingEvent[],
    row: DailySweepNamed | null,
  ): Promise<void> {
    const noted = new Set(row?.pausesFinished ?? []);
    const finished = pausesFinishedBy({
      controls: version.controls ?? EMPTY_MEMBER_CONTROLS,
      compactedBefore,
      records: version.records,
      liveAcceptances: liveEvents
        .filter((e) => isPlaybackEvent(e) && e.occurredAt >= compactedBefore)
        .map(acceptanceOf),
    });
    const unnoted = finished.filter((id) => !noted.has(id));
    if (unnoted.length > 0) await this.compressed.notePausesFinished(profileId, unnoted);
  }

  /**
   * The settings the daily sweep's row names (ADR 8), read before the history; none for a dry run, none across
   * datacenters, where a note may replicate before the live row it follows (erasure is refused there anyway), and
   * none unless reads and writes are quorum-level: at ONE the history read may miss a live setting's row or its
   * version, and marking that setting erased would leave it out of the daily sweep for good (review of issue 15).
   */
  private async namedForDailySweep(profileId: string, dryRun: boolean): Promise<DailySweepNamed | null> {
    if (dryRun || spansSeveralDataCenters(this.config) || !readsSeeAcknowledgedWrites(this.config)) return null;
    return this.compressed.namedForDailySweep(profileId);
  }

  /**
   * Named settings this compaction's read did not find were erased (ADR 9): a late note brought an erased profile
   * back into the daily sweep (a partition's stalled previous owner, a compaction stalled before its note). Ingest
   * writes a setting's live row before its note, and controls only grow but by an erasure, so a setting named
   * before the read is in it unless erased, provided no switch came between the two reads of the history (another
   * compaction may have moved the live row into a version this read missed): this compaction's own switch says so,
   * or, with nothing to write, the version read again after.
   */
  private async noteErased(
    profileId: string,
    named: NamedSettings | null,
    controls: MemberControls | null | undefined,
    readVersion: number | null,
  ): Promise<void> {
    if (named === null) return;
    const erased = erasedSince(named, controls ?? EMPTY_MEMBER_CONTROLS);
    if (erased.length === 0) return;
    const now = await this.compressed.readVersion(profileId);
    if ((now?.version ?? null) !== readVersion) return;
    this.logger.log(`${profileId}: ${erased.length} setting(s) the daily sweep named were erased`);
    await this.compressed.noteErasedForDailySweep(profileId, erased);
  }

  /**
   * Records whose events were all accepted this long ago are settled (the service's clock on both sides).
   * Never across regions: a session's events may sit in the other region's log, which we cannot read.
   */
  private settleBefore(now: number): number | undefined {
    const { trailRetentionMs } = this.config.compaction;
    if (this.eventLog === undefined) return undefined; // it could never rebuild them
    if (!Number.isFinite(trailRetentionMs) || spansSeveralDataCenters(this.config)) return undefined;
    return now - trailRetentionMs;
  }
}

/**
 * Events the rebuilt records did not count before: their trails' growth over the digests' counts; where a
 * digest is not known, their distinct live events before compactedBefore (a re-delivery counts then too).
 */
function lateEventsOfSettled(
  rebuilt: CompressedHistory,
  stored: CompressedHistory,
  live: readonly ViewingEvent[],
  sessions: readonly string[],
): number {
  let late = 0;
  for (const id of sessions) {
    const counted = stored.settledDigests?.get(id)?.events ?? 0;
    if (counted > 0) {
      late += Math.max(0, (rebuilt.trails?.get(id)?.length ?? 0) - counted);
      continue;
    }
    const ids = new Set<string>();
    for (const e of live) {
      if (
        'playbackSessionId' in e &&
        e.playbackSessionId === id &&
        e.occurredAt < (stored.compactedBefore ?? -Infinity)
      )
        ids.add(e.eventId);
    }
    late += ids.size;
  }
  return late;
}

/** The outcome's account of the rows a run left (none for a dry run or nothing deleted). */
function liveRowsLeftOf(
  deletes: LiveRowDeletes | null,
): Pick<CompactionOutcome, 'liveRowsLeft' | 'liveRowsLeftThroughUs'> {
  return { liveRowsLeft: deletes?.left ?? 0, liveRowsLeftThroughUs: deletes?.leftThroughUs ?? null };
}
