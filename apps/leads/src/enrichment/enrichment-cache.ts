import { Schema, type Connection, type Model } from 'mongoose';
import type { Logger } from '@tributary/observability';
import { expireDocuments } from '@tributary/store';
import type { ContactAttributes } from '../contacts/contact-attributes';

/** What a provider answered for one key: its facts, or null when it does not know the company/person. */
export type ProviderAnswer = Partial<ContactAttributes> | null;

/** Where answers are kept between lookups (and replicas). */
export interface EnrichmentCacheStore {
  /** The answer cached under `key` and not yet expired at `now`; undefined when there is none. */
  read(key: string, now: number): Promise<ProviderAnswer | undefined>;
  write(key: string, answer: ProviderAnswer, expiresAt: Date): Promise<void>;
}

interface CacheEntryDoc {
  _id: string;
  found: boolean;
  attributes: Partial<ContactAttributes>;
  cachedAt: Date;
  expiresAt: Date;
}

const cacheEntrySchema = new Schema<CacheEntryDoc>(
  {
    _id: { type: String, required: true },
    found: { type: Boolean, required: true },
    attributes: { type: Schema.Types.Mixed, default: {} },
    cachedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'enrichment_cache', minimize: false },
);

/**
 * Provider answers in the service's own database, collection `enrichment_cache`, one document per `_id` (the only
 * fast lookup on FerretDB). Each entry carries its own `expiresAt` (answers and misses live for different times):
 * a TTL index at 0 s on MongoDB, a periodic sweep on FerretDB; reads ignore entries past `expiresAt` meanwhile.
 */
export class MongoEnrichmentCacheStore implements EnrichmentCacheStore {
  private readonly model: Model<CacheEntryDoc>;
  private expiry: { stop(): void } | undefined;

  constructor(connection: Connection) {
    this.model =
      connection.models['EnrichmentCacheEntry'] ??
      connection.model<CacheEntryDoc>('EnrichmentCacheEntry', cacheEntrySchema);
  }

  /** Starts expiry (index or sweeper); call once at boot. */
  async init(): Promise<void> {
    this.expiry = await expireDocuments(this.model.collection, 'expiresAt', 0);
  }

  close(): void {
    this.expiry?.stop();
  }

  async read(key: string, now: number): Promise<ProviderAnswer | undefined> {
    const entry = await this.model.findById(key).lean<CacheEntryDoc>().exec();
    if (!entry || entry.expiresAt.getTime() <= now) return undefined;
    return entry.found ? entry.attributes : null;
  }

  async write(key: string, answer: ProviderAnswer, expiresAt: Date): Promise<void> {
    await this.model
      .updateOne(
        { _id: key },
        { $set: { found: answer !== null, attributes: answer ?? {}, cachedAt: new Date(), expiresAt } },
        { upsert: true },
      )
      .exec();
  }
}

export interface CacheTtl {
  /** How long an answer with facts is reused. */
  foundMs: number;
  /** How long "unknown" is reused. */
  missMs: number;
}

/**
 * Read-through cache of provider answers that also coalesces: concurrent lookups of one key in this process share
 * one cache read and at most one provider call (a burst of leads from one company costs one request). A cache that
 * cannot be read or written only costs a provider call; it never fails the lookup.
 */
export class EnrichmentCache {
  private readonly inFlight = new Map<string, Promise<ProviderAnswer>>();

  constructor(
    private readonly store: EnrichmentCacheStore,
    private readonly ttl: CacheTtl,
    private readonly logger?: Logger,
  ) {}

  lookup(key: string, fetch: () => Promise<ProviderAnswer>): Promise<ProviderAnswer> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const lookup = this.readThrough(key, fetch).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, lookup);
    return lookup;
  }

  private async readThrough(key: string, fetch: () => Promise<ProviderAnswer>): Promise<ProviderAnswer> {
    const cached = await this.store.read(key, Date.now()).catch((error: unknown) => {
      this.logger?.warn({ event: 'enrichment-cache-unreadable', err: error }, 'enrichment cache read failed');
      return undefined;
    });
    if (cached !== undefined) return cached;
    const answer = await fetch();
    const ttlMs = answer === null ? this.ttl.missMs : this.ttl.foundMs;
    // Written before the lookup settles, so the next lookup of this key (here or on another replica) reads it.
    await this.store.write(key, answer, new Date(Date.now() + ttlMs)).catch((error: unknown) => {
      this.logger?.warn(
        { event: 'enrichment-cache-unwritable', err: error },
        'enrichment cache write failed',
      );
    });
    return answer;
  }
}
