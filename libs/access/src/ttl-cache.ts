/**
 * A small per-replica cache with a time-to-live and a size cap (oldest entries go first), so random ids presented by
 * an attacker cannot grow it without bound. Misses are cached too (`null`), so unknown ids do not hammer the store.
 */
export class TtlCache<T> {
  private readonly entries = new Map<string, { value: T | null; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(id: string, load: (id: string) => Promise<T | null>): Promise<T | null> {
    const hit = this.entries.get(id);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value;
    const value = await load(id);
    this.entries.delete(id);
    if (this.ttlMs > 0) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(id, { value, at: this.now() });
    }
    return value;
  }

  /** Forgets an id at once (this replica changed it). */
  invalidate(id: string): void {
    this.entries.delete(id);
  }
}
