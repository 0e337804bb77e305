import { Inject, Injectable, type Provider } from '@nestjs/common';
import { Schema, type Connection, type Model } from 'mongoose';
import { z } from 'zod';
import { STORE_CONNECTION, isDuplicateKey } from '@tributary/store';
import { DEFAULT_SCORING_MODEL, type ScoringModel } from './scoring-model';

/** One stored version of a workspace's model, `_id: <workspaceId>:<version>`; never changed once written. */
export interface ScoringModelDoc {
  _id: string;
  workspaceId: string;
  version: number;
  model: ScoringModel;
  /** Credential that stored it (audit), when known. */
  createdBy?: string;
  createdAt: Date;
}

/** The current version of a workspace's model, `_id: <workspaceId>`. */
export interface ScoringModelHeadDoc {
  _id: string;
  version: number;
  updatedAt: Date;
}

/** A model with the version that identifies it on `leads.scored` (0 = the built-in default). */
export interface VersionedScoringModel {
  version: number;
  model: ScoringModel;
}

export interface ScoringModelVersionSummary {
  version: number;
  createdAt: Date;
  createdBy: string | null;
}

export interface ScoringModelStoreOptions {
  /** How long a replica reuses a workspace's current model before reading it again (0 = never cache). */
  cacheTtlMs: number;
  /** Clock for cache expiry (tests). */
  now?: () => number;
}

/** Config keys for LeadsConfig: spread into its shape, pass `{ cacheTtlMs: SCORING_MODEL_CACHE_TTL_MS }`. */
export const scoringModelConfigShape = {
  /** Per-replica cache of each workspace's current scoring model = how long other replicas may score on the old one. */
  SCORING_MODEL_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5000),
};

export const SCORING_MODEL_DOCS = Symbol('SCORING_MODEL_DOCS');
export const SCORING_MODEL_HEADS = Symbol('SCORING_MODEL_HEADS');
export const SCORING_MODEL_STORE_OPTIONS = Symbol('SCORING_MODEL_STORE_OPTIONS');

const scoringModelSchema = new Schema<ScoringModelDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    version: { type: Number, required: true },
    model: { type: Schema.Types.Mixed, required: true },
    createdBy: { type: String },
    createdAt: { type: Date, required: true },
  },
  // minimize: false keeps an empty `when: {}` (a catch-all rule) instead of dropping it.
  { versionKey: false, collection: 'scoring_models', minimize: false },
);

const scoringModelHeadSchema = new Schema<ScoringModelHeadDoc>(
  {
    _id: { type: String, required: true },
    version: { type: Number, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'scoring_model_heads' },
);

export function scoringModelDocs(connection: Connection): Model<ScoringModelDoc> {
  return (
    connection.models['ScoringModel'] ?? connection.model<ScoringModelDoc>('ScoringModel', scoringModelSchema)
  );
}

export function scoringModelHeads(connection: Connection): Model<ScoringModelHeadDoc> {
  return (
    connection.models['ScoringModelHead'] ??
    connection.model<ScoringModelHeadDoc>('ScoringModelHead', scoringModelHeadSchema)
  );
}

// Concurrent writers each take the next free version; more than this many in one race means something is wrong.
const MAX_CLAIM_ATTEMPTS = 50;
// Bounds memory with many workspaces; expired entries are also dropped when read.
const MAX_CACHED_WORKSPACES = 10_000;

/**
 * Versioned scoring models per workspace. A write appends version n+1 by inserting `<ws>:<n+1>`: FerretDB has no
 * transactions, but a duplicate `_id` fails, so two concurrent writers can never both get n+1 (the loser moves on to
 * n+2). The head then moves with `$max`, so it only ever goes forward, whatever order the writers finish in.
 *
 * `current()` is cached per replica for `cacheTtlMs`: a replica that stored a model sees it at once, other replicas
 * within that bound. Scores carry the version they were computed with, and a rescore settles them on the newest.
 */
@Injectable()
export class ScoringModelStore {
  private readonly cache = new Map<string, { value: Promise<VersionedScoringModel>; expiresAt: number }>();
  private readonly now: () => number;

  constructor(
    @Inject(SCORING_MODEL_DOCS) private readonly docs: Model<ScoringModelDoc>,
    @Inject(SCORING_MODEL_HEADS) private readonly heads: Model<ScoringModelHeadDoc>,
    @Inject(SCORING_MODEL_STORE_OPTIONS) private readonly options: ScoringModelStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The workspace's current model; the built-in default (version 0) until it stores one. */
  current(workspaceId: string): Promise<VersionedScoringModel> {
    const now = this.now();
    const cached = this.cache.get(workspaceId);
    if (cached && cached.expiresAt > now) return cached.value;
    const value = this.readCurrent(workspaceId);
    if (this.options.cacheTtlMs > 0) {
      if (this.cache.size >= MAX_CACHED_WORKSPACES) this.cache.clear();
      // The promise is cached, so a burst of events after expiry reads the store once; a failure is not kept.
      this.cache.set(workspaceId, { value, expiresAt: now + this.options.cacheTtlMs });
      value.catch(() => {
        if (this.cache.get(workspaceId)?.value === value) this.cache.delete(workspaceId);
      });
    }
    return value;
  }

  /** One version of the workspace's model (0 = the default); undefined when it was never stored. */
  async get(workspaceId: string, version: number): Promise<VersionedScoringModel | undefined> {
    if (version === 0) return { version: 0, model: DEFAULT_SCORING_MODEL };
    const doc = await this.docs.findById(`${workspaceId}:${version}`).lean<ScoringModelDoc | null>();
    return doc ? { version: doc.version, model: doc.model } : undefined;
  }

  /** Every stored version of the workspace's model, oldest first (the default, version 0, is not stored). */
  async list(workspaceId: string): Promise<ScoringModelVersionSummary[]> {
    const docs = await this.docs
      .find({ workspaceId }, { version: 1, createdAt: 1, createdBy: 1 })
      .lean<Pick<ScoringModelDoc, 'version' | 'createdAt' | 'createdBy'>[]>();
    return docs
      .map((doc) => ({ version: doc.version, createdAt: doc.createdAt, createdBy: doc.createdBy ?? null }))
      .sort((a, b) => a.version - b.version);
  }

  /** Stores `model` (already validated) as the workspace's next version and makes it current. */
  async append(workspaceId: string, model: ScoringModel, createdBy?: string): Promise<VersionedScoringModel> {
    const head = await this.heads.findById(workspaceId).lean<ScoringModelHeadDoc | null>();
    // A writer that crashed after its insert left the head behind: its version is taken and is skipped like any other.
    let version = (head?.version ?? 0) + 1;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.docs.create({
          _id: `${workspaceId}:${version}`,
          workspaceId,
          version,
          model,
          createdBy,
          createdAt: new Date(this.now()),
        });
        break;
      } catch (error) {
        if (!isDuplicateKey(error) || attempt >= MAX_CLAIM_ATTEMPTS) throw error;
        version += 1;
      }
    }
    await this.advanceHead(workspaceId, version);
    // This replica reads the head again next time: it is this version, or a newer one a concurrent writer stored.
    this.cache.delete(workspaceId);
    const stored = { version, model };
    return stored;
  }

  private async advanceHead(workspaceId: string, version: number): Promise<void> {
    const update = { $max: { version }, $set: { updatedAt: new Date(this.now()) } };
    try {
      await this.heads.updateOne({ _id: workspaceId }, update, { upsert: true });
    } catch (error) {
      // Two first-ever writers both upserting: one inserts, the other updates on its second try.
      if (!isDuplicateKey(error)) throw error;
      await this.heads.updateOne({ _id: workspaceId }, update, { upsert: true });
    }
  }

  private async readCurrent(workspaceId: string): Promise<VersionedScoringModel> {
    const head = await this.heads.findById(workspaceId).lean<ScoringModelHeadDoc | null>();
    if (!head) return { version: 0, model: DEFAULT_SCORING_MODEL };
    const stored = await this.get(workspaceId, head.version);
    if (!stored)
      throw new Error(`scoring model ${workspaceId}:${head.version} is missing though it is current`);
    return stored;
  }
}

/** ScoringModelsModule providers: the store and its two collections, on the service's store connection. */
export function scoringModelProviders(options: Partial<ScoringModelStoreOptions> = {}): Provider[] {
  return [
    ScoringModelStore,
    { provide: SCORING_MODEL_STORE_OPTIONS, useValue: { cacheTtlMs: 5000, ...options } },
    {
      provide: SCORING_MODEL_DOCS,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection) => scoringModelDocs(c),
    },
    {
      provide: SCORING_MODEL_HEADS,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection) => scoringModelHeads(c),
    },
  ];
}
