import { isDuplicateKey } from '@tributary/store';

/** A provider account's shared send budget in the store: one counter per second, one "paused until" document. */
export interface BudgetDoc {
  _id: string;
  /** Sends taken in that second (counter documents). */
  n?: number;
  /** Epoch ms before which nobody sends (the pause document). */
  until?: number;
  /** When the document stops mattering: what the sweep deletes by. */
  at: Date;
}

/** The collection operations the budget needs (a mongoose connection's `collection` has them). */
export interface BudgetCollection {
  findOneAndUpdate(
    filter: Record<string, unknown>,
    update: Record<string, unknown>,
    options: { upsert: true; returnDocument: 'after' },
  ): Promise<BudgetDoc | null>;
  findOne(filter: { _id: string }): Promise<BudgetDoc | null>;
  updateOne(
    filter: { _id: string },
    update: Record<string, unknown>,
    options: { upsert: true },
  ): Promise<unknown>;
}

export interface ProviderBudgetOptions {
  /** The provider (`sendgrid`, `twilio`) and the account at it whose limit this is. */
  provider: string;
  account: string;
  /** Sends a second across every replica: set at 90% of the provider's limit. */
  perSecond: number;
  /** How far ahead a send may take a slot and wait for it; beyond, it is deferred to the engine. */
  maxWaitMs?: number;
  /** How long a replica trusts its copy of the pause document before reading it again. */
  pauseReadEveryMs?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A send may go now, or not before `retryAfterMs`. */
export type BudgetTake = { ok: true } | { ok: false; retryAfterMs: number; reason: string };

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Spans of a second: up to 20 (fewer when fewer sends), whose sends are shared out as evenly as integers allow. */
export function spansPerSecond(perSecond: number): number {
  return Math.max(1, Math.min(20, Math.floor(perSecond)));
}

/** Sends span `index` (counted from the epoch) may hold: `perSecond` shared out over the second's spans. */
export function spanCapacity(index: number, perSecond: number): number {
  const spans = spansPerSecond(perSecond);
  const g = index % spans;
  return Math.floor(((g + 1) * perSecond) / spans) - Math.floor((g * perSecond) / spans);
}

/** When span `index` starts, epoch ms. */
export function spanStart(index: number, perSecond: number): number {
  return Math.ceil((index * 1000) / spansPerSecond(perSecond));
}

/**
 * A provider account's send budget shared by every replica through the store. Each second is cut into up to 20
 * spans with one counter each (`budget|<provider>|<account>|<epochSecond>.<span>`, an `$inc` guarded by the span's
 * share: a full span refuses the upsert with a duplicate key). A send takes a place in the current span or a later
 * one, never a past one, and waits for its place's time within the span; so any window of one second, however the
 * provider aligns it, holds about perSecond plus one span's share (5% more, or 1): a budget of 90% of the provider's
 * limit leaves room for network jitter. A provider's 429 pauses everyone via the pause document until Retry-After.
 */
/** How long sends gather before their places are asked for together. */
const GATHER_MS = 5;

export class ProviderBudget {
  private readonly prefix: string;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxWaitMs: number;
  private readonly pauseReadEveryMs: number;
  /** Spans this replica saw full: later sends skip them without a round trip. */
  private fullUpTo = -1;
  /** The store's recent answer time for a place (moving average): places nearer than that come too late. */
  private roundTripMs = 0;
  private pausedUntil = 0;
  private pauseReadAt = -Infinity;
  private pauseRead: Promise<void> | undefined;
  /** Sends asking for a place in a span at once (by span index): one counter update takes places for all of them. */
  private readonly asking = new Map<
    number,
    { resolve: (ordinal: number | undefined) => void; reject: (error: unknown) => void }[]
  >();

  constructor(
    private readonly collection: BudgetCollection,
    private readonly options: ProviderBudgetOptions,
  ) {
    if (!Number.isInteger(options.perSecond) || options.perSecond < 1)
      throw new Error(`perSecond must be a whole number of sends, 1 or more; got ${options.perSecond}`);
    this.prefix = `budget|${options.provider}|${options.account}`;
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? sleepFor;
    this.maxWaitMs = options.maxWaitMs ?? 2_000;
    this.pauseReadEveryMs = options.pauseReadEveryMs ?? 250;
  }

  /** Takes one send from the budget, waiting up to maxWaitMs for its place. */
  async take(): Promise<BudgetTake> {
    const paused = await this.pausedFor();
    if (paused > 0) return this.deferred(paused, 'paused');
    const { perSecond } = this.options;
    const spans = spansPerSecond(perSecond);
    const now = this.clock();
    const last = Math.floor(((now + this.maxWaitMs) * spans) / 1000);
    let span = Math.max(this.firstUsableSpan(spans), this.fullUpTo + 1);
    while (span <= last) {
      const capacity = spanCapacity(span, perSecond);
      const ordinal = capacity > 0 ? await this.reserveTogether(span, spans, capacity) : undefined;
      if (ordinal === undefined) {
        this.fullUpTo = Math.max(this.fullUpTo, span);
        span = Math.max(span + 1, this.firstUsableSpan(spans));
        continue;
      }
      const start = spanStart(span, perSecond);
      const length = spanStart(span + 1, perSecond) - start;
      const at = start + Math.floor((length * ordinal) / capacity);
      const wait = at - this.clock();
      if (wait > 0) await this.sleep(wait);
      // Over a span past its time (a slow store, a busy event loop): going now would crowd later places.
      if (this.clock() - at > length) {
        span = Math.max(span + 1, this.firstUsableSpan(spans));
        continue;
      }
      // A 429 seen meanwhile outranks the place (the copy as it is: a read here would delay sends past their places).
      const pausedSince = this.pausedUntil - this.clock();
      return pausedSince > 0 ? this.deferred(pausedSince, 'paused') : { ok: true };
    }
    return this.deferred(spanStart(last + 1, perSecond) - now, 'full');
  }

  /** Nobody sends on this account for `ms` (a provider's Retry-After): stored, so every replica stops. */
  async pause(ms: number): Promise<void> {
    const until = this.clock() + Math.max(0, ms);
    this.pausedUntil = Math.max(this.pausedUntil, until);
    await this.collection.updateOne(
      { _id: `${this.prefix}|paused` },
      { $max: { until }, $set: { at: new Date(until) } },
      { upsert: true },
    );
  }

  /** The first span whose places the store's answer can still reach in time (twice its recent round trip ahead). */
  private firstUsableSpan(spans: number): number {
    return Math.floor(((this.clock() + 2 * this.roundTripMs) * spans) / 1000);
  }

  /**
   * A place in span `index` for this send, asked for together with the other sends asking for that span within a
   * few milliseconds: a claim's sends come at once, and one counter update per span beats one per send on a store
   * that applies updates of one document one after the other.
   */
  private reserveTogether(index: number, spans: number, capacity: number): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.asking.get(index);
      if (waiting) {
        waiting.push({ resolve, reject });
        return;
      }
      this.asking.set(index, [{ resolve, reject }]);
      setTimeout(() => {
        const askers = this.asking.get(index) ?? [];
        this.asking.delete(index);
        this.placesFor(askers.length, index, spans, capacity).then(
          (ordinals) => askers.forEach((asker, i) => asker.resolve(ordinals[i])),
          (error: unknown) => askers.forEach((asker) => asker.reject(error)),
        );
      }, GATHER_MS);
    });
  }

  /** `count` places in span `index` in one update when it has room for all, else one by one until it is spent. */
  private async placesFor(
    count: number,
    index: number,
    spans: number,
    capacity: number,
  ): Promise<(number | undefined)[]> {
    if (count > 1 && count <= capacity) {
      const first = await this.reserve(index, spans, capacity, count);
      if (first !== undefined) return Array.from({ length: count }, (_, i) => first + i);
    }
    const ordinals: (number | undefined)[] = [];
    for (let i = 0; i < count; i += 1) {
      const ordinal =
        ordinals[i - 1] === undefined && i > 0 ? undefined : await this.reserve(index, spans, capacity, 1);
      ordinals.push(ordinal);
    }
    return ordinals;
  }

  /** The first of `count` places taken in span `index`, or undefined when the span has fewer left. */
  private async reserve(
    index: number,
    spans: number,
    capacity: number,
    count: number,
  ): Promise<number | undefined> {
    const second = Math.floor(index / spans);
    const id = `${this.prefix}|${second}.${index % spans}`;
    const sent = this.clock();
    try {
      const doc = await this.collection.findOneAndUpdate(
        { _id: id, n: { $lte: capacity - count } },
        { $inc: { n: count }, $setOnInsert: { at: new Date((second + 1) * 1000) } },
        { upsert: true, returnDocument: 'after' },
      );
      this.roundTripMs = 0.8 * this.roundTripMs + 0.2 * (this.clock() - sent);
      if (typeof doc?.n !== 'number') throw new Error(`budget counter ${id} not returned`);
      return doc.n - count;
    } catch (error) {
      if (isDuplicateKey(error)) return undefined;
      throw error;
    }
  }

  /** How long sends stay paused (0 = not), from a copy read at most every pauseReadEveryMs. */
  private async pausedFor(): Promise<number> {
    if (this.clock() - this.pauseReadAt >= this.pauseReadEveryMs) {
      this.pauseRead ??= this.collection
        .findOne({ _id: `${this.prefix}|paused` })
        .then((doc) => {
          this.pausedUntil = Math.max(this.pausedUntil, doc?.until ?? 0);
          this.pauseReadAt = this.clock();
        })
        .finally(() => {
          this.pauseRead = undefined;
        });
      await this.pauseRead;
    }
    return Math.max(0, this.pausedUntil - this.clock());
  }

  private deferred(ms: number, why: 'paused' | 'full'): BudgetTake {
    return {
      ok: false,
      retryAfterMs: Math.ceil(ms),
      reason: `${this.options.provider} send budget ${why === 'paused' ? 'paused by a 429' : 'spent'} (${this.options.perSecond}/s)`,
    };
  }
}
