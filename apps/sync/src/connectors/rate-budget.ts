import type { Connection } from 'mongoose';
import { expireDocuments, isDuplicateKey, type ExpiringCollection } from '@tributary/store';
import type { ConnectorDescriptor } from './connector';

/** One of a vendor's request limits: `requests` per `perMs`. */
export interface RateLimit {
  requests: number;
  perMs: number;
}

/** A budget document: the next free instant of a rolling policy, or the calls taken in a calendar window. */
export interface RateBudgetDoc {
  _id: string;
  /** Epoch ms (fractional) of the next free instant (rolling policies). */
  next?: number;
  /** Calls taken in the window (calendar policies); it may run past the window's share, which grants nothing. */
  n?: number;
  /** When the document stops mattering: what the sweep deletes by. */
  at: Date;
}

/** The collection operations the budget needs (a mongoose connection's `collection` has them). */
export interface RateBudgetCollection {
  findOneAndUpdate(
    filter: Record<string, unknown>,
    update: Record<string, unknown>,
    options: { upsert?: boolean; returnDocument: 'before' | 'after' },
  ): Promise<RateBudgetDoc | null>;
  updateOne(
    filter: Record<string, unknown>,
    update: Record<string, unknown>,
    options: { upsert: true },
  ): Promise<unknown>;
}

export interface RateBudgetOptions {
  /** The share of each vendor limit the budget hands out (0.9 unless set): the rest is room for jitter and skew. */
  share?: number;
  /**
   * The least room each rolling window keeps unused (250 ms unless set), for calls that reach the vendor later than
   * their instant (a stalled process, a slow network). A small limit needs more than its share leaves: at HubSpot's
   * 4 searches a second, 10% is 28 ms per call and one 120 ms stall put a fifth call in a second (seen in CI).
   */
  minSlackMs?: number;
  /** The longest a call waits for room; beyond, `take` throws RateBudgetExhausted (the caller tries later). */
  maxWaitMs?: number;
  /** Calls a process takes at once from a calendar window (a daily quota), spent without a store command each. */
  chunk?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The budget has no room within `maxWaitMs`: the call was not made; try again after `retryAfterMs`. */
export class RateBudgetExhausted extends Error {
  constructor(
    readonly policy: string,
    readonly retryAfterMs: number,
  ) {
    super(`the vendor account's '${policy}' request budget has no room for ${Math.ceil(retryAfterMs)} ms`);
    this.name = 'RateBudgetExhausted';
  }
}

/** Limits over a window at least this long are vendor quotas reset at set times (HubSpot's daily), not rolling. */
const CALENDAR_FROM_MS = 3_600_000;
/** How long an idle rolling document is kept (its instant is long past by then). */
const ROLLING_KEEP_MS = 3_600_000;
/** A rolling policy's pause after a 429 without Retry-After: its window, at most this long. */
const DEFAULT_PAUSE_CAP_MS = 10_000;
/** Store round trips a reservation may lose to other replicas in a row before it gives up. */
const MAX_RACES = 10;

export const RATE_BUDGET_COLLECTION = 'sync_rate_budgets';

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A connector's request budget per vendor account, shared by every sync replica (and the backfill CLI) through the
 * store: one window per limit policy of the connector's `rateLimits`, handing out `share` of each.
 *
 * Rolling limits (HubSpot's 4 searches a second, 100 requests per rolling 10 s) are kept by spacing: a call reserves
 * its policy's next free instant and waits for it, one findOneAndUpdate on the policy's document (`$inc` of `next` by
 * perMs / (requests × share) while `next` is ahead, else `$set` to now plus the store's round trip; a lost race is a duplicate key and is asked
 * again). Counting whole windows instead would let the end of one and the start of the next add up to twice the limit
 * in the vendor's rolling window; spaced, any window of `perMs`, wherever the vendor starts it, holds at most
 * share × requests calls plus one. FerretDB takes no pipeline updates, hence the two forms (the replica guesses which
 * from what it last saw, so a busy policy costs one command a call). Replicas use their own clocks: skew between
 * hosts eats into what the share leaves.
 *
 * Long limits (a daily quota, reset at set times) are counted per calendar window of `perMs` from the epoch: a process
 * takes `chunk` calls with one `$inc` on the window's document and spends them without the store; a process that
 * dies loses what it had not spent.
 *
 * A 429 the vendor sends anyway (another app on the account, a changed limit) pauses the policy for every replica
 * until its Retry-After (`pause`, a `$max` on `next`), so one replica's 429 holds all of them back.
 */
export class RateBudget {
  private readonly share: number;
  private readonly minSlackMs: number;
  private readonly maxWaitMs: number;
  private readonly chunk: number;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** What this process last saw of each rolling document's `next`: ahead of now, the `$inc` form is tried first. */
  private readonly seenNext = new Map<string, number>();
  /** The store's recent answer time (moving average): a free instant is taken that far ahead. */
  private roundTripMs = 0;
  /** Pauses this process made or saw, by rolling document: a call waiting for its instant meanwhile asks again. */
  private readonly pausedUntil = new Map<string, number>();
  /** Calls this process holds from calendar windows, by account and policy, and the chunk being asked for. */
  private readonly held = new Map<string, { window: number; left: number }>();
  private readonly refills = new Map<string, Promise<number>>();

  constructor(
    private readonly collection: RateBudgetCollection,
    private readonly connector: Pick<ConnectorDescriptor, 'kind' | 'rateLimits'>,
    options: RateBudgetOptions = {},
  ) {
    this.share = options.share ?? 0.9;
    this.minSlackMs = options.minSlackMs ?? 250;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
    this.chunk = options.chunk ?? 20;
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? sleepFor;
    if (!(this.share > 0 && this.share <= 1)) throw new Error(`share must be in (0, 1]; got ${this.share}`);
  }

  /**
   * The connector's limit at the budget's share, or lower where a rolling window would keep less than `minSlackMs`
   * unused: what the account's replicas get together.
   */
  limitOf(policy: string): RateLimit {
    const limit = this.connector.rateLimits[policy];
    if (!limit) throw new Error(`${this.connector.kind} has no rate limit '${policy}'`);
    const shared = limit.requests * this.share;
    if (limit.perMs >= CALENDAR_FROM_MS) return { requests: shared, perMs: limit.perMs };
    // Spaced perMs / r apart, a window's requests calls span requests × perMs / r: r ≤ requests × perMs / (perMs + slack).
    const slackBound = (limit.requests * limit.perMs) / (limit.perMs + this.minSlackMs);
    return { requests: Math.min(shared, slackBound), perMs: limit.perMs };
  }

  /**
   * Takes one call of `policy` for `account` (an opaque key: a hash of the token, the portal), waiting until the
   * policy's window has room; throws RateBudgetExhausted when that is more than `maxWaitMs` away.
   */
  async take(account: string, policy: string): Promise<void> {
    const limit = this.limitOf(policy);
    if (limit.perMs >= CALENDAR_FROM_MS) return this.takeFromWindow(account, policy, limit);
    const id = this.idOf(account, policy);
    // A call sent late crowds the next one: d ms late, the vendor's requests calls span less than its window once d
    // passes the window's unused room, requests × spacing - perMs; half of that room is kept for the way there.
    const spacing = limit.perMs / limit.requests;
    const vendorRequests = this.connector.rateLimits[policy]?.requests ?? limit.requests;
    const tolerance = (vendorRequests * spacing - limit.perMs) / 2;
    for (;;) {
      const at = await this.reserve(id, spacing);
      const wait = at - this.clock();
      if (wait > this.maxWaitMs) throw new RateBudgetExhausted(policy, wait);
      if (wait > 0) await this.sleep(wait);
      // Paused meanwhile (a 429 here): the instant is void, a new one comes after the pause, spaced like the rest.
      if ((this.pausedUntil.get(id) ?? 0) > at) continue;
      // Too late for its instant (a busy event loop, a slow store): the call goes now, and the next instant moves to
      // a spacing after it, so that the next call is not crowded into one window with it. (Taking a later instant
      // instead wasted one each time: a backfill on a busy machine then used 80% of the budget, not 90%.)
      if (this.clock() - at > tolerance) await this.pushNext(id, spacing, tolerance);
      return;
    }
  }

  /**
   * Moves a rolling policy's next free instant to a spacing after this (late) call, which goes once the store has it:
   * set that far ahead of the command's sending as the store's round trip (a moving average), and again when the
   * answer took longer than that by more than `tolerance` (the call would then crowd the instant set).
   */
  private async pushNext(id: string, spacingMs: number, tolerance: number): Promise<void> {
    for (let tries = 0; tries < MAX_RACES; tries += 1) {
      const sent = this.clock();
      const lead = this.roundTripMs;
      const next = sent + lead + spacingMs;
      this.seenNext.set(id, Math.max(this.seenNext.get(id) ?? 0, next));
      await this.collection.updateOne(
        { _id: id },
        { $max: { next, at: new Date(next + ROLLING_KEEP_MS) } },
        { upsert: true },
      );
      this.roundTrip(sent);
      if (this.clock() - sent <= lead + tolerance) return;
    }
  }

  /**
   * Nobody calls `policy` for `account` for `ms` (the vendor's Retry-After; unset: the policy's window, at most 10 s,
   * or what is left of a calendar window): stored, so every replica waits.
   */
  async pause(account: string, policy: string, ms?: number): Promise<void> {
    const limit = this.limitOf(policy);
    const now = this.clock();
    if (limit.perMs >= CALENDAR_FROM_MS) {
      // The window is spent for everyone (what processes hold of it already is theirs).
      const window = Math.floor(now / limit.perMs);
      this.held.delete(`${account}|${policy}`);
      await this.collection.updateOne(
        { _id: `${this.idOf(account, policy)}|${window}` },
        { $max: { n: Math.floor(limit.requests), at: new Date((window + 1) * limit.perMs) } },
        { upsert: true },
      );
      return;
    }
    const until = now + Math.max(0, ms ?? Math.min(limit.perMs, DEFAULT_PAUSE_CAP_MS));
    const id = this.idOf(account, policy);
    this.seenNext.set(id, Math.max(this.seenNext.get(id) ?? 0, until));
    this.pausedUntil.set(id, Math.max(this.pausedUntil.get(id) ?? 0, until));
    await this.collection.updateOne(
      { _id: id },
      { $max: { next: until, at: new Date(until + ROLLING_KEEP_MS) } },
      { upsert: true },
    );
  }

  /** Keeps the store's recent round trip (a moving average) from a command sent at `sentAt`. */
  private roundTrip(sentAt: number): void {
    this.roundTripMs = 0.8 * this.roundTripMs + 0.2 * (this.clock() - sentAt);
  }

  private idOf(account: string, policy: string): string {
    return `${this.connector.kind}|${account}|${policy}`;
  }

  /** The instant reserved for one call of a rolling policy: its document's next free instant, or now. */
  private async reserve(id: string, spacingMs: number): Promise<number> {
    for (let race = 0; race < MAX_RACES; race += 1) {
      const now = this.clock();
      const keep = new Date(now + ROLLING_KEEP_MS);
      if ((this.seenNext.get(id) ?? 0) >= now) {
        const before = await this.collection.findOneAndUpdate(
          { _id: id, next: { $gte: now } },
          { $inc: { next: spacingMs }, $max: { at: keep } },
          { returnDocument: 'before' },
        );
        this.roundTrip(now);
        if (typeof before?.next === 'number') {
          this.seenNext.set(id, before.next + spacingMs);
          return before.next;
        }
      }
      // Free (or no document yet): the instant is when the answer is due back, so that the store's round trip does not
      // make the call late; a document still ahead of it makes this upsert a duplicate key.
      const at = now + this.roundTripMs;
      try {
        await this.collection.findOneAndUpdate(
          { _id: id, next: { $lt: at } },
          { $set: { next: at + spacingMs }, $max: { at: keep } },
          { upsert: true, returnDocument: 'before' },
        );
        this.roundTrip(now);
        this.seenNext.set(id, at + spacingMs);
        return at;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        this.seenNext.set(id, Number.POSITIVE_INFINITY);
      }
    }
    throw new Error(`rate budget ${id}: lost ${MAX_RACES} races for an instant in a row`);
  }

  /** One call from the policy's current calendar window, from what this process holds or a new chunk of it. */
  private async takeFromWindow(account: string, policy: string, limit: RateLimit): Promise<void> {
    const key = `${account}|${policy}`;
    for (;;) {
      const window = Math.floor(this.clock() / limit.perMs);
      const held = this.held.get(key);
      if (held && held.window === window && held.left > 0) {
        held.left -= 1;
        return;
      }
      // One chunk asked for at a time per process: calls arriving meanwhile wait for it.
      let refill = this.refills.get(key);
      if (!refill) {
        refill = this.refill(account, policy, limit, window).finally(() => this.refills.delete(key));
        this.refills.set(key, refill);
      }
      if ((await refill) > 0) continue;
      const wait = (window + 1) * limit.perMs - this.clock();
      if (wait > this.maxWaitMs) throw new RateBudgetExhausted(policy, wait);
      await this.sleep(Math.max(0, wait));
    }
  }

  /** Takes a chunk of the window into what this process holds: how many calls the store granted (0: spent). */
  private async refill(account: string, policy: string, limit: RateLimit, window: number): Promise<number> {
    const share = Math.floor(limit.requests);
    const chunk = Math.max(1, Math.min(this.chunk, share));
    const update = () =>
      this.collection.findOneAndUpdate(
        { _id: `${this.idOf(account, policy)}|${window}` },
        { $inc: { n: chunk }, $max: { at: new Date((window + 1) * limit.perMs) } },
        { upsert: true, returnDocument: 'after' },
      );
    // Two processes creating the window's document at once: the loser's upsert is a duplicate key, asked again.
    const doc = await update().catch((error: unknown) => {
      if (isDuplicateKey(error)) return update();
      throw error;
    });
    const granted = Math.max(0, Math.min(chunk, share - ((doc?.n ?? chunk) - chunk)));
    const key = `${account}|${policy}`;
    const held = this.held.get(key);
    this.held.set(key, { window, left: (held?.window === window ? held.left : 0) + granted });
    return granted;
  }
}

/** The store's budget collection, its documents swept once they stop mattering. */
export async function rateBudgetCollection(connection: Connection): Promise<RateBudgetCollection> {
  const collection = connection.collection(RATE_BUDGET_COLLECTION);
  await expireDocuments(collection as unknown as ExpiringCollection, 'at', 60_000);
  return collection as unknown as RateBudgetCollection;
}
