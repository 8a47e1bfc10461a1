import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import {
  ChangeKey,
  ChangesQuery,
  CircuitOpenError,
  CorruptHistoryError,
  DependencyUnavailableError,
  ViewingRecord,
} from '@vh/domain';
import { ChangedProfile, ChangedProfilesPosition, ChangedProfilesWalk } from '@vh/storage';
import { checkSince, decodePosition, encodePosition, ExportProgress } from './export-position';
import { toView, ViewingRecordView } from './history-request';
import { PROFILE_UNAVAILABLE, UNAVAILABLE_ADVICE, ViewingHistoryReader } from './viewing-history.reader';

const DAY_MS = 86_400_000;
/** Reads of one profile before it is given an error line: a partition that always times out never succeeds. */
const PROFILE_READ_ATTEMPTS = 2;
/** This many unreadable profiles in a row is an outage, not bad profiles: the export stops as interrupted. */
const MAX_CONSECUTIVE_UNAVAILABLE = 3;
/**
 * Waits for an open read circuit (its retry-after each time) before the export stops as interrupted. A
 * circuit left open by an outage that has healed, or another request's half-open probe, must not end a
 * long export (chaos seed 7's final export); a circuit that keeps re-opening is an outage.
 */
const MAX_CIRCUIT_WAITS = 3;
/**
 * Records of one profile held at a time. Each batch reads the profile's chunks again (decoded chunks are
 * cached): time grows with batches, memory does not. 5,000 records are ~2.5 MB as objects.
 */
export const EXPORT_BATCH_RECORDS = 5_000;

export type ExportLine =
  | ({ type: 'record'; profileId: string; position: string } & ViewingRecordView)
  | { type: 'error'; profileId: string; error: string; message: string; position: string }
  | {
      type: 'end';
      since: string;
      completeUpTo: string;
      walk: ExportProgress['walk'];
      profiles: number;
      records: number;
      failures: number;
    };

/**
 * The export of every profile's records changed since an instant (NDJSON lines, see the controller).
 * Complete: profiles with live, compressed or both histories. Verifiable: the end line counts profiles,
 * records and failures and names the instant it is complete up to. Resumable: every line carries its
 * position. A corrupt profile gets an error line and the export goes on (invariant 4).
 */
@Injectable()
export class HistoryExport {
  constructor(
    private readonly reader: ViewingHistoryReader,
    private readonly changed: ChangedProfilesWalk,
    private readonly config: AppConfig,
  ) {}

  /**
   * A new export, or the rest of one after a line's position. A recent `since` (at most
   * HISTORY_EXPORT_INDEX_MAX_DAYS back) walks the activity index, whose cost follows what changed; an older
   * one walks both tables by token ranges. The walk is kept on resume.
   */
  begin(since: number, after: string | undefined, now = Date.now()): ExportProgress {
    const { exportIndexMaxDays: indexMaxDays } = this.config.history;
    if (after !== undefined) {
      return decodePosition(after, since, { now, indexMaxDays, maxClockSkewMs: this.config.events.maxClockSkewMs });
    }
    checkSince(since, now);
    const recent = now - since <= indexMaxDays * DAY_MS;
    const walk = recent ? 'activity-index' : 'token-ranges';
    return { since, startedAt: now, walk, at: null, record: null, profiles: 0, records: 0, failures: 0 };
  }

  async *lines(from: ExportProgress): AsyncGenerator<ExportLine> {
    const progress = { ...from };
    const unavailable = { consecutive: 0 };
    // A profile cut off mid-way is finished first, after its last record sent.
    if (from.at !== null && from.record !== null) yield* this.profileLines(progress, from.at, from.record, unavailable);
    for await (const { position } of this.walk(from)) {
      yield* this.profileLines(progress, position, null, unavailable);
    }
    yield {
      type: 'end',
      since: new Date(progress.since).toISOString(),
      completeUpTo: new Date(progress.startedAt).toISOString(),
      walk: progress.walk,
      profiles: progress.profiles,
      records: progress.records,
      failures: progress.failures,
    };
  }

  private walk(from: ExportProgress): AsyncGenerator<ChangedProfile> {
    const after = from.at ?? undefined;
    if (from.walk === 'activity-index') {
      // Events may carry a device time up to the allowed skew ahead of the service's.
      return this.changed.byActivity(from.since, from.startedAt + this.config.events.maxClockSkewMs, after);
    }
    return this.changed.byTokenRanges(from.since, this.config.history.exportTokenRanges, after);
  }

  /**
   * One profile's changed records, oldest change first (so a record changed later comes after a cut), in
   * batches of EXPORT_BATCH_RECORDS: each batch is one read that keeps only its records, so a profile of any
   * size is exported within bounded memory (issue 12 §3).
   */
  private async *profileLines(
    progress: ExportProgress,
    position: ChangedProfilesPosition,
    from: ChangeKey | null,
    unavailable: { consecutive: number },
  ): AsyncGenerator<ExportLine> {
    const { profileId } = position;
    let after = from;
    for (let batch = 0; ; batch++) {
      const read = await this.readBatch(profileId, { since: progress.since, after, limit: EXPORT_BATCH_RECORDS + 1 });
      if ('failure' in read) {
        // Mid-profile, the lines sent carry the position to resume from: the export stops as interrupted.
        if (batch > 0) throw read.failure;
        yield* this.failed(progress, position, read.failure, unavailable);
        return;
      }
      unavailable.consecutive = 0;
      const more = read.records.length > EXPORT_BATCH_RECORDS;
      const records = read.records.slice(0, EXPORT_BATCH_RECORDS);
      if (records.length === 0) return;
      if (batch === 0 && from === null) progress.profiles++;
      for (const [i, record] of records.entries()) {
        progress.records++;
        progress.at = position;
        const last = i === records.length - 1 && !more;
        progress.record = last ? null : { lastEventAt: record.lastEventAt, recordId: record.recordId };
        yield { type: 'record', profileId, ...toView(record), position: encodePosition(progress) };
      }
      if (!more) return;
      after = progress.record;
    }
  }

  /**
   * One batch of a profile's changes, read up to PROFILE_READ_ATTEMPTS times for the cluster's failures
   * (an open circuit tried no read: waited for, not counted); a corrupt history or the last failure is
   * given back. A bug of ours is not the profile's fault: it is thrown.
   */
  private async readBatch(
    profileId: string,
    query: ChangesQuery,
  ): Promise<{ records: ViewingRecord[] } | { failure: unknown }> {
    let failure: unknown;
    let circuitWaits = 0;
    for (let attempt = 0; attempt < PROFILE_READ_ATTEMPTS; attempt++) {
      try {
        return { records: await this.reader.readChangesForExport(profileId, query) };
      } catch (error) {
        if (error instanceof CircuitOpenError && circuitWaits++ < MAX_CIRCUIT_WAITS) {
          // No read was tried: not an attempt of this profile's.
          await sleep(error.retryAfterSeconds * 1000);
          attempt--;
          continue;
        }
        if (error instanceof CorruptHistoryError) return { failure: error };
        // An open circuit tried no read: it is an outage, so the export stops as interrupted, never blaming a
        // healthy profile.
        if (error instanceof CircuitOpenError || !(error instanceof DependencyUnavailableError)) throw error;
        failure = error;
      }
    }
    return { failure };
  }

  /** The error line of a profile that could not be read; an outage (neighbours failing too) stops the export. */
  private *failed(
    progress: ExportProgress,
    position: ChangedProfilesPosition,
    failure: unknown,
    unavailable: { consecutive: number },
  ): Generator<ExportLine> {
    const { profileId } = position;
    if (failure instanceof CorruptHistoryError) {
      Object.assign(progress, { at: position, record: null, failures: progress.failures + 1 });
      yield {
        type: 'error',
        profileId,
        error: failure.code,
        message: failure.advice,
        position: encodePosition(progress),
      };
      return;
    }
    // A partition that always times out (e.g. too many tombstones) would stop every resume at the same
    // profile: it fails only itself (invariant 4), unless its neighbours fail too (an outage).
    if (++unavailable.consecutive >= MAX_CONSECUTIVE_UNAVAILABLE) throw failure;
    Object.assign(progress, { at: position, record: null, failures: progress.failures + 1 });
    const [error, message] = [PROFILE_UNAVAILABLE, UNAVAILABLE_ADVICE];
    yield { type: 'error', profileId, error, message, position: encodePosition(progress) };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
