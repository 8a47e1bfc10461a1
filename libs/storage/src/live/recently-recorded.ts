/**
 * Keys this process wrote successfully not long ago, so an idempotent write that would change nothing is
 * skipped. Bounded (oldest forgotten first) and expiring well inside the row's TTL, so a key it still
 * holds is a row that still exists. Each key may carry what was written (`T`), for writing it again.
 */
export class RecentlyRecorded<T = null> {
  private readonly entries = new Map<string, { expiresAt: number; value: T }>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  has(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (entry.expiresAt > this.now()) return true;
    this.entries.delete(key);
    return false;
  }

  /** Call only once the write is acknowledged. */
  add(key: string, value: T = null as T): void {
    this.entries.delete(key); // re-inserted last: Map order is the eviction order
    this.entries.set(key, { expiresAt: this.now() + this.ttlMs, value });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /**
   * Drops the keys whose rows were deleted (an erasure): the next write of them must happen. O(size), rare.
   * Answers what was written under the keys dropped that were still remembered.
   */
  forgetWhere(deleted: (key: string, value: T) => boolean): T[] {
    const dropped: T[] = [];
    for (const [key, { value }] of [...this.entries]) {
      if (!deleted(key, value)) continue;
      if (this.has(key)) dropped.push(value);
      this.entries.delete(key);
    }
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }
}
