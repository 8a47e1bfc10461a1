import { Injectable } from '@nestjs/common';
import { AppConfig } from '@vh/config';
import {
  changedRecords,
  changedRecordsOfChunked,
  ChangesQuery,
  ChunkedCompressedHistory,
  ChunkedReadOptions,
  CompressedHistory,
  continueWatching,
  continueWatchingOfChunked,
  CorruptHistoryError,
  DependencyUnavailableError,
  foldHistory,
  removableByCompaction,
  MemberControls,
  HistoryPage,
  HistoryQuery,
  needsTrails,
  pageOfChunkedHistory,
  pageOfHistory,
  ViewingEvent,
  ViewingRecord,
  visibleRecords,
} from '@vh/domain';
import { metrics } from '@vh/metrics';
import {
  CircuitBreaker,
  CompressedHistoryRepository,
  LiveHistoryRepository,
  readMemberControls,
  settleWithConcurrency,
} from '@vh/storage';
import { CompactionRequests } from '../shared/compaction-requests';

const BATCH_READ_CONCURRENCY = 16;
/** The error code of a profile whose history could not be read now while others could (invariant 4). */
export const PROFILE_UNAVAILABLE = 'profile_unavailable';
export const UNAVAILABLE_ADVICE = 'the history of this profile could not be read; retry it alone later';

/** A profile a bulk read could not answer: the code and what the caller is told. */
export interface UnreadableProfile {
  error: string;
  message: string;
}

/** Reads history: the live view folded onto the compressed view, visible records newest first. */
@Injectable()
export class ViewingHistoryReader {
  private readonly breaker: CircuitBreaker;
  /** A compaction run now rolls up before now minus this: what the controls hide for good by then it removes. */
  private readonly compactionMinAgeMs: number;

  constructor(
    private readonly liveHistory: LiveHistoryRepository,
    private readonly compressedHistory: CompressedHistoryRepository,
    private readonly compactions: CompactionRequests,
    config: AppConfig,
  ) {
    this.compactionMinAgeMs = config.compaction.minAgeMs;
    this.breaker = new CircuitBreaker({
      failureThreshold: config.history.breakerFailures,
      openMs: config.history.breakerOpenMs,
      onStateChange: (state) => metrics.breakerState.set(state === 'open' ? 1 : 0),
    });
  }

  /**
   * Live rows first, then the compressed version: if a compaction switches versions in between, the
   * new version already holds every row its range delete removes (invariant 3).
   */
  async read(profileId: string): Promise<ViewingRecord[]> {
    const { live, history } = await this.breaker.execute(async () => {
      const liveEvents = await this.liveHistory.readProfile(profileId);
      return { live: liveEvents, history: await this.readCompressed(profileId, liveEvents) };
    });
    this.compactions.requestIfLarge(profileId, live, history.compactedBefore);
    return this.merge(live, history, profileId);
  }

  /**
   * One page of the merged history. A version with a chunk index decodes only the chunks the page needs,
   * so memory is the page and a few chunks whatever the history's size (issue 12 §3, docs/architecture.md);
   * versions written before the index are read whole. Same order of reads as `read` (invariant 3).
   */
  async readPage(profileId: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.readMerged(
      profileId,
      (records) => pageOfHistory(records, query),
      (live, chunked, options) => pageOfChunkedHistory(live, chunked, query, options),
    );
  }

  /** Continue-watching: read chunk by chunk, keeping one record per title (memory: titles, not records). */
  async readContinueWatching(profileId: string, limit: number): Promise<ViewingRecord[]> {
    return this.readMerged(
      profileId,
      (records) => continueWatching(records, limit),
      (live, chunked, options) => continueWatchingOfChunked(live, chunked, limit, options),
    );
  }

  /**
   * One batch of a profile's changed records for the export, oldest change first, without asking for its
   * compaction: at most `query.limit` records are held, whatever the profile's size.
   */
  async readChangesForExport(profileId: string, query: ChangesQuery): Promise<ViewingRecord[]> {
    return this.readMerged(
      profileId,
      (records) => changedRecords(records, query),
      (live, chunked, options) => changedRecordsOfChunked(live, chunked, query, options),
      { askCompaction: false },
    );
  }

  /**
   * Several profiles at once (each `since` filters its own), with bounded concurrency, one page each. A
   * corrupt history, or one that keeps timing out (e.g. too many tombstones), fails its profile only
   * (invariant 4): it is given as an error entry. When every profile fails for the cluster, that is an
   * outage: the whole call fails (503). Bugs fail the call.
   */
  async readMany(
    requests: readonly { profileId: string; since?: number }[],
    limit: number,
  ): Promise<(HistoryPage | UnreadableProfile)[]> {
    const results = await settleWithConcurrency(requests, BATCH_READ_CONCURRENCY, ({ profileId, since }) =>
      this.readPage(profileId, since === undefined ? { limit } : { limit, changedSince: since }),
    );
    const unavailable = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof DependencyUnavailableError,
    ) as PromiseRejectedResult[];
    if (unavailable.length > 0 && unavailable.length === results.length) throw unavailable[0].reason;
    return results.map((result) => {
      if (result.status === 'fulfilled') return result.value;
      if (result.reason instanceof CorruptHistoryError) {
        return { error: result.reason.code, message: result.reason.advice };
      }
      if (result.reason instanceof DependencyUnavailableError) {
        return { error: PROFILE_UNAVAILABLE, message: UNAVAILABLE_ADVICE };
      }
      throw result.reason;
    });
  }

  /**
   * Live rows first, then the compressed version (invariant 3), read chunk by chunk when it has an index
   * (`chunked`), else whole (`whole` gets its visible records newest first). Auto-delete is judged at this
   * process's clock (invariant 6); a stored record the controls now hide asks for a compaction.
   */
  private async readMerged<T>(
    profileId: string,
    whole: (records: ViewingRecord[]) => T,
    chunked: (live: ViewingEvent[], history: ChunkedCompressedHistory, options: ChunkedReadOptions) => Promise<T>,
    { askCompaction = true } = {},
  ): Promise<T> {
    const { live, compactedBefore, result } = await this.breaker.execute(async () => {
      const liveEvents = await this.liveHistory.readProfile(profileId);
      const ask = askCompaction ? profileId : undefined;
      const now = Date.now();
      const read = await this.compressedHistory.withChunkedVersion(profileId, async (history) => {
        if (history === null) {
          const stored = await this.readCompressed(profileId, liveEvents);
          return { compactedBefore: stored.compactedBefore, result: whole(this.merge(liveEvents, stored, ask)) };
        }
        const result = await chunked(liveEvents, history, {
          now,
          compactionCutoff: now - this.compactionMinAgeMs,
          onCompactionDue: ask === undefined ? undefined : () => void this.compactions.requestDueCompaction(ask),
        });
        return { compactedBefore: history.compactedBefore, result };
      });
      return { live: liveEvents, ...read };
    });
    if (askCompaction) this.compactions.requestIfLarge(profileId, live, compactedBefore);
    return result;
  }

  /**
   * The compressed history, with its session trails only when a live event touches a compressed record
   * (rare: a session spanning the cutoff, a late or repeated event); otherwise reads skip the trail chunks.
   * Any version read after the live rows is correct (invariant 3), so the second read may see a newer one.
   */
  private async readCompressed(profileId: string, live: ViewingEvent[]): Promise<CompressedHistory> {
    const { history } = await this.compressedHistory.read(profileId);
    if (!needsTrails(live, history)) return history;
    return (await this.compressedHistory.read(profileId, { withTrails: true })).history;
  }

  /**
   * Auto-delete is judged at this process's clock, against acceptance times (invariant 6). A stored record
   * the member's controls now hide for good asks for the profile's compaction, which removes it physically
   * (one they hide since its cutoff it would keep as a hidden record, ADR 8).
   */
  private merge(live: ViewingEvent[], compressed: CompressedHistory, askToRemove?: string): ViewingRecord[] {
    const now = Date.now();
    const folded = foldHistory(live, compressed);
    const cutoff = now - this.compactionMinAgeMs;
    // Also a settled record that live events touch: it shows as stored until a compaction rebuilds it.
    const needsCompaction =
      folded.settledSessionsTouched.length > 0 || removableByCompaction(compressed.records, folded, now, cutoff);
    if (askToRemove !== undefined && needsCompaction) {
      this.compactions.requestDueCompaction(askToRemove);
    }
    return visibleRecords(folded, now);
  }

  /** The member's controls of a profile (settings, titles removed): live events folded onto the stored ones. */
  async readControls(profileId: string): Promise<MemberControls> {
    return this.breaker.execute(() => readMemberControls(this.liveHistory, this.compressedHistory, profileId));
  }
}
