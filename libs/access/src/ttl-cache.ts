/**
 * A small per-replica cache with a time-to-live and a size cap (oldest entries go first), so random ids presented by
 * an attacker cannot grow it without bound. Misses are cached too (`null`), so unknown ids do not hammer the store.
 * A load in flight is shared: callers asking for one id at once (a cold replica under load) cause one read; a load
 * that fails is not kept, so the next call reads again.
 */
export class TtlCache<T> {
  private readonly entries = new Map<string, { value: Promise<T | null>; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string, load: (id: string) => Promise<T | null>): Promise<T | null> {
    const hit = this.entries.get(id);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value;
    const value = load(id);
    this.entries.delete(id);
    if (this.ttlMs > 0) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      const entry = { value, at: this.now() };
      this.entries.set(id, entry);
      value.catch(() => {
        if (this.entries.get(id) === entry) this.entries.delete(id);
      });
    }
    return value;
  }

  /** Forgets an id at once (this replica changed it). */
  invalidate(id: string): void {
    this.entries.delete(id);
  }
}
