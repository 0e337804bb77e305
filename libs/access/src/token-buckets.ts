import { LRUCache } from 'lru-cache';

/** A sustained rate and what may be spent at once. */
export interface Allowance {
  perSecond: number;
  burst: number;
}

interface Level {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key, in this process's memory: a bucket holds up to `burst` tokens and refills at `perSecond`.
 * A cost above the burst is admitted from a full bucket and leaves it in debt, so one oversized request (a 500 KB
 * batch of 11,500 events) is not refused forever, and its sender then waits until the debt is paid back.
 * Keys are bounded (least recently used go first); a forgotten bucket is a full one.
 */
export class TokenBuckets {
  private readonly levels: LRUCache<string, Level>;

  constructor(
    readonly allowance: Allowance,
    private readonly now: () => number = Date.now,
    maxKeys = 100_000,
  ) {
    this.levels = new LRUCache({ max: maxKeys });
  }

  /** Tokens the key holds now; negative while it is in debt. */
  tokens(key: string): number {
    const level = this.levels.get(key);
    if (!level) return this.allowance.burst;
    const refilled = ((this.now() - level.at) / 1000) * this.allowance.perSecond;
    return Math.min(this.allowance.burst, level.tokens + refilled);
  }

  /** Seconds until the key could spend `cost` (0: now). */
  waitSeconds(key: string, cost: number): number {
    const missing = Math.min(cost, this.allowance.burst) - this.tokens(key);
    return missing <= 0 ? 0 : missing / this.allowance.perSecond;
  }

  /** Seconds until the key's bucket is full again. */
  fullInSeconds(key: string): number {
    return Math.max(0, this.allowance.burst - this.tokens(key)) / this.allowance.perSecond;
  }

  spend(key: string, cost: number): void {
    this.levels.set(key, { tokens: this.tokens(key) - cost, at: this.now() });
  }
}
