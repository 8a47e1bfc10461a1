/**
 * Keys this process wrote successfully not long ago, so an idempotent write that would change nothing is
 * skipped. Bounded (oldest forgotten first) and expiring well inside the row's TTL, so a key it still
 * holds is a row that still exists.
 */
export class RecentlyRecorded {
  private readonly expiresAt = new Map<string, number>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  has(key: string): boolean {
    const expiry = this.expiresAt.get(key);
    if (expiry === undefined) return false;
    if (expiry > this.now()) return true;
    this.expiresAt.delete(key);
    return false;
  }

  /** Call only once the write is acknowledged. */
  add(key: string): void {
    this.expiresAt.delete(key); // re-inserted last: Map order is the eviction order
    this.expiresAt.set(key, this.now() + this.ttlMs);
    if (this.expiresAt.size > this.capacity) this.expiresAt.delete(this.expiresAt.keys().next().value!);
  }

  /**
   * Drops the keys whose rows were deleted (an erasure): the next write of them must happen. O(size), rare.
   * Answers the keys dropped that were still remembered.
   */
  forgetWhere(deleted: (key: string) => boolean): string[] {
    const dropped: string[] = [];
    for (const key of [...this.expiresAt.keys()]) {
      if (!deleted(key)) continue;
      if (this.has(key)) dropped.push(key);
      this.expiresAt.delete(key);
    }
    return dropped;
  }

  get size(): number {
    return this.expiresAt.size;
  }
}
