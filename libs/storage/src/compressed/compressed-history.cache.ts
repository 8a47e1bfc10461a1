import { CompressedHistory } from '@vh/domain';

/**
 * Decoded compressed histories by (profile, chunk set). A chunk set never changes once written, so
 * entries never need invalidation: a new version is a new key. Bounded by approximate decoded bytes,
 * least recently used out first.
 */
export class CompressedHistoryCache<T = CompressedHistory> {
  private readonly entries = new Map<string, { history: T; bytes: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  get(profileId: string, chunkSet: string): T | undefined {
    const key = `${profileId}\u0000${chunkSet}`;
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.history;
  }

  set(profileId: string, chunkSet: string, history: T, bytes: number): void {
    if (bytes > this.maxBytes) return;
    const key = `${profileId}\u0000${chunkSet}`;
    const previous = this.entries.get(key);
    if (previous) this.bytes -= previous.bytes;
    this.entries.set(key, { history, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}

/** Rough in-memory size of a decoded history: what the byte bound counts. */
export function approximateBytes(history: Pick<CompressedHistory, 'records' | 'removedRecordIds' | 'trails'>): number {
  let trailEvents = 0;
  for (const trail of history.trails?.values() ?? []) trailEvents += trail.length;
  return 256 + history.records.length * 400 + history.removedRecordIds.length * 90 + trailEvents * 300;
}
