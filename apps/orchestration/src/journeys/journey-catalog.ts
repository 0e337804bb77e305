import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { Schema, type Connection, type Model } from 'mongoose';
import { z } from 'zod';
import { TtlCache } from '@tributary/access';
import { STORE_CONNECTION, isDuplicateKey } from '@tributary/store';
import type { JourneyDefinition } from './journey-definition';

/**
 * A workspace's journeys: every version as written (never changed), and per journey a head saying which version
 * is published and whether it runs. Contacts follow the version they entered; publishing another moves nobody.
 */

export type JourneyStatus = 'draft' | 'active' | 'paused' | 'archived';

/** One stored version, `_id: <workspaceId>:<journeyId>:<version>`. */
export interface JourneyVersionDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  version: number;
  definition: JourneyDefinition;
  createdBy: string | null;
  createdAt: Date;
}

/** A journey's head, `_id: <workspaceId>:<journeyId>`. */
export interface JourneyHeadDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  latestVersion: number;
  publishedVersion: number | null;
  status: JourneyStatus;
  updatedAt: Date;
  updatedBy: string | null;
}

export interface JourneySummary {
  journeyId: string;
  name: string;
  status: JourneyStatus;
  latestVersion: number;
  publishedVersion: number | null;
  updatedAt: Date;
}

/** What a write answers: the version it stored (concurrent writers each get their own) and the head after it. */
export interface AppendedJourney extends JourneySummary {
  version: number;
}

/** A journey contacts can be in: active (entering and sending) or paused (advancing, messages skipped). */
export interface LiveJourney {
  journeyId: string;
  version: number;
  status: 'active' | 'paused';
  definition: JourneyDefinition;
}

/** A workspace's live journeys and the status of each of its journeys, as one cached read. */
interface LiveSet {
  live: LiveJourney[];
  status: Map<string, JourneyStatus>;
}

export type PublishListener = (workspaceId: string, journeyId: string, version: number) => Promise<void>;

/** A status change the journey's state does not allow (archived is final; resume only what is paused). */
export class JourneyTransitionError extends Error {}
export class JourneyNotFoundError extends Error {}

export const journeyCatalogConfigShape = {
  /** How long a replica reuses a workspace's live journeys: a pause or a new version is seen within it. */
  JOURNEY_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(2_000),
};

const versionSchema = new Schema<JourneyVersionDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    journeyId: { type: String, required: true },
    version: { type: Number, required: true },
    definition: { type: Schema.Types.Mixed, required: true },
    createdBy: { type: String, default: null },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'journey_versions', minimize: false },
);
versionSchema.index({ workspaceId: 1, journeyId: 1, version: 1 });

const headSchema = new Schema<JourneyHeadDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    journeyId: { type: String, required: true },
    latestVersion: { type: Number, required: true },
    publishedVersion: { type: Number, default: null },
    status: { type: String, required: true },
    updatedAt: { type: Date, required: true },
    updatedBy: { type: String, default: null },
  },
  { versionKey: false, collection: 'journeys' },
);
headSchema.index({ workspaceId: 1, status: 1 });

export const JOURNEY_VERSIONS = Symbol('JOURNEY_VERSIONS');
export const JOURNEY_HEADS = Symbol('JOURNEY_HEADS');
export const JOURNEY_CATALOG_OPTIONS = Symbol('JOURNEY_CATALOG_OPTIONS');

export function journeyCatalogProviders(config: z.output<z.ZodObject<typeof journeyCatalogConfigShape>>) {
  return [
    {
      provide: JOURNEY_VERSIONS,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection): Model<JourneyVersionDoc> =>
        (c.models['JourneyVersion'] as Model<JourneyVersionDoc> | undefined) ??
        c.model<JourneyVersionDoc>('JourneyVersion', versionSchema),
    },
    {
      provide: JOURNEY_HEADS,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection): Model<JourneyHeadDoc> =>
        (c.models['JourneyHead'] as Model<JourneyHeadDoc> | undefined) ??
        c.model<JourneyHeadDoc>('JourneyHead', headSchema),
    },
    { provide: JOURNEY_CATALOG_OPTIONS, useValue: { cacheTtlMs: config.JOURNEY_CACHE_TTL_MS } },
  ];
}

// Concurrent writers each take the next free version; more than this many in one race means something is wrong.
const MAX_CLAIM_ATTEMPTS = 50;
// Bounds memory with many workspaces; an entry past its TTL is read again anyway.
const MAX_CACHED_WORKSPACES = 10_000;
// Status changes that lose a race to another admin are judged again on the new status, this many times.
const MAX_TRANSITION_ATTEMPTS = 5;

const headId = (workspaceId: string, journeyId: string): string => `${workspaceId}:${journeyId}`;
const versionId = (workspaceId: string, journeyId: string, version: number): string =>
  `${workspaceId}:${journeyId}:${version}`;

@Injectable()
export class JourneyCatalog {
  /** Told of each publish once it is stored (the scheduler arms scheduled journeys). */
  private readonly publishListeners: PublishListener[] = [];
  /** Per workspace: its live journeys and every head's status, read together. */
  private readonly live: TtlCache<LiveSet>;
  /** Versions never change: cached without expiry, bounded. */
  private readonly definitions = new LRUCache<string, JourneyDefinition>({ max: 5_000 });

  constructor(
    @Inject(JOURNEY_VERSIONS) private readonly versions: Model<JourneyVersionDoc>,
    @Inject(JOURNEY_HEADS) private readonly heads: Model<JourneyHeadDoc>,
    @Inject(JOURNEY_CATALOG_OPTIONS) options: { cacheTtlMs: number },
  ) {
    this.live = new TtlCache<LiveSet>(options.cacheTtlMs, MAX_CACHED_WORKSPACES);
  }

  /**
   * Stores a new version (a draft until published) by inserting `<ws>:<journey>:<n+1>`: a duplicate `_id` fails, so
   * two writers at once never get the same version (the loser takes the next). The head then only moves forward.
   */
  async append(
    workspaceId: string,
    journeyId: string,
    definition: JourneyDefinition,
    createdBy?: string,
  ): Promise<AppendedJourney> {
    const head = await this.heads.findById(headId(workspaceId, journeyId)).lean();
    // A writer that died between its insert and the head left a version behind: it is skipped like a taken one.
    let version = (head?.latestVersion ?? 0) + 1;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.versions.create({
          _id: versionId(workspaceId, journeyId, version),
          workspaceId,
          journeyId,
          version,
          definition,
          createdBy: createdBy ?? null,
          createdAt: new Date(),
        });
        break;
      } catch (error) {
        if (!isDuplicateKey(error) || attempt >= MAX_CLAIM_ATTEMPTS) throw error;
        version += 1;
      }
    }
    await this.advanceHead(workspaceId, journeyId, version, createdBy);
    this.forget(workspaceId);
    return { ...(await this.summaryOf(await this.head(workspaceId, journeyId))), version };
  }

  private async advanceHead(
    workspaceId: string,
    journeyId: string,
    version: number,
    by?: string,
  ): Promise<void> {
    const update = {
      $max: { latestVersion: version },
      $set: { updatedAt: new Date(), updatedBy: by ?? null },
      $setOnInsert: { workspaceId, journeyId, publishedVersion: null, status: 'draft' },
    };
    try {
      await this.heads.updateOne({ _id: headId(workspaceId, journeyId) }, update, { upsert: true });
    } catch (error) {
      // Two first-ever writers both upserting: one inserts, the other updates on its second try.
      if (!isDuplicateKey(error)) throw error;
      await this.heads.updateOne({ _id: headId(workspaceId, journeyId) }, update, { upsert: true });
    }
  }

  async publish(
    workspaceId: string,
    journeyId: string,
    version?: number,
    by?: string,
  ): Promise<JourneySummary> {
    const head = await this.head(workspaceId, journeyId);
    const chosen = version ?? head.latestVersion;
    if (
      head.status !== 'archived' &&
      !(await this.versions.exists({ _id: versionId(workspaceId, journeyId, chosen) }))
    )
      throw new JourneyNotFoundError(`no version ${chosen} of journey ${journeyId}`);
    const published = await this.transition(
      head,
      ['draft', 'active', 'paused'],
      () => 'an archived journey cannot be published',
      { status: 'active', publishedVersion: chosen },
      by,
    );
    for (const listener of this.publishListeners) await listener(workspaceId, journeyId, chosen);
    return published;
  }

  /** Every workspace's published journeys (active or paused) with their live version: a scan of the heads. */
  async publishedJourneys(): Promise<{ workspaceId: string; journeyId: string; version: number }[]> {
    const heads = await this.heads
      .find({ status: { $in: ['active', 'paused'] } }, { workspaceId: 1, journeyId: 1, publishedVersion: 1 })
      .lean();
    return heads.flatMap(({ workspaceId, journeyId, publishedVersion }) =>
      publishedVersion == null ? [] : [{ workspaceId, journeyId, version: publishedVersion }],
    );
  }

  onPublish(listener: PublishListener): void {
    this.publishListeners.push(listener);
  }

  async pause(workspaceId: string, journeyId: string, by?: string): Promise<JourneySummary> {
    return this.transition(
      await this.head(workspaceId, journeyId),
      ['active'],
      (status) => `only an active journey can be paused (it is ${status})`,
      { status: 'paused' },
      by,
    );
  }

  async resume(workspaceId: string, journeyId: string, by?: string): Promise<JourneySummary> {
    return this.transition(
      await this.head(workspaceId, journeyId),
      ['paused'],
      (status) => `only a paused journey can be resumed (it is ${status})`,
      { status: 'active' },
      by,
    );
  }

  async archive(workspaceId: string, journeyId: string, by?: string): Promise<JourneySummary> {
    return this.transition(
      await this.head(workspaceId, journeyId),
      ['draft', 'active', 'paused'],
      () => 'the journey is archived already',
      { status: 'archived' },
      by,
    );
  }

  async summary(workspaceId: string, journeyId: string): Promise<JourneySummary> {
    return this.summaryOf(await this.head(workspaceId, journeyId));
  }

  async list(workspaceId: string): Promise<JourneySummary[]> {
    const heads = await this.heads.find({ workspaceId }).sort({ journeyId: 1 }).lean();
    return Promise.all(heads.map((head) => this.summaryOf(head)));
  }

  async version(
    workspaceId: string,
    journeyId: string,
    version: number,
  ): Promise<JourneyVersionDoc | undefined> {
    return (await this.versions.findById(versionId(workspaceId, journeyId, version)).lean()) ?? undefined;
  }

  /** The hot path of entries: a workspace's active and paused journeys, cached for the TTL. */
  async liveJourneys(workspaceId: string): Promise<LiveJourney[]> {
    return (await this.liveOf(workspaceId)).live;
  }

  /** A journey's status as the engine honours it (within the cache TTL); undefined when there is no such journey. */
  async statusOf(workspaceId: string, journeyId: string): Promise<JourneyStatus | undefined> {
    return (await this.liveOf(workspaceId)).status.get(journeyId);
  }

  async definitionOf(
    workspaceId: string,
    journeyId: string,
    version: number,
  ): Promise<JourneyDefinition | undefined> {
    const id = versionId(workspaceId, journeyId, version);
    const cached = this.definitions.get(id);
    if (cached) return cached;
    const doc = await this.versions.findById(id).lean();
    if (doc) this.definitions.set(id, doc.definition);
    return doc?.definition;
  }

  private async liveOf(workspaceId: string): Promise<LiveSet> {
    return (await this.live.get(workspaceId, (id) => this.readLive(id))) ?? { live: [], status: new Map() };
  }

  private async readLive(workspaceId: string): Promise<LiveSet> {
    const heads = await this.heads
      .find({ workspaceId }, { journeyId: 1, status: 1, publishedVersion: 1 })
      .lean();
    const status = new Map(heads.map((h) => [h.journeyId, h.status]));
    // Definitions are read at once, not one round trip after another: a cold replica pays one store latency.
    const live = await Promise.all(
      heads.map(async (head): Promise<LiveJourney | undefined> => {
        const { status: state, publishedVersion: version } = head;
        if ((state !== 'active' && state !== 'paused') || version == null) return undefined;
        const definition = await this.definitionOf(workspaceId, head.journeyId, version);
        return definition ? { journeyId: head.journeyId, version, status: state, definition } : undefined;
      }),
    );
    return { live: live.filter((j): j is LiveJourney => j !== undefined), status };
  }

  private async head(workspaceId: string, journeyId: string): Promise<JourneyHeadDoc> {
    const head = await this.heads.findById(headId(workspaceId, journeyId)).lean();
    if (!head) throw new JourneyNotFoundError(`no journey ${journeyId}`);
    return head;
  }

  /**
   * Sets the head only if its status is still one of `from`: two admins at once (archive and publish, say) cannot
   * undo each other's change. A lost race is judged again on the status the other one left.
   */
  private async transition(
    head: JourneyHeadDoc,
    from: readonly JourneyStatus[],
    refusal: (status: JourneyStatus) => string,
    set: Partial<JourneyHeadDoc>,
    by?: string,
  ): Promise<JourneySummary> {
    let current = head;
    for (let attempt = 1; ; attempt += 1) {
      if (!from.includes(current.status)) throw new JourneyTransitionError(refusal(current.status));
      const { matchedCount } = await this.heads.updateOne(
        { _id: current._id, status: { $in: from } },
        { $set: { ...set, updatedAt: new Date(), updatedBy: by ?? null } },
      );
      if (matchedCount > 0) break;
      if (attempt >= MAX_TRANSITION_ATTEMPTS)
        throw new JourneyTransitionError('the status keeps changing; try again');
      current = await this.head(head.workspaceId, head.journeyId);
    }
    this.forget(head.workspaceId);
    return this.summary(head.workspaceId, head.journeyId);
  }

  /** This replica sees its own change at once; others within the TTL. */
  private forget(workspaceId: string): void {
    this.live.invalidate(workspaceId);
  }

  private async summaryOf(head: JourneyHeadDoc): Promise<JourneySummary> {
    const shown = await this.definitionOf(
      head.workspaceId,
      head.journeyId,
      head.publishedVersion ?? head.latestVersion,
    );
    return {
      journeyId: head.journeyId,
      name: shown?.name ?? head.journeyId,
      status: head.status,
      latestVersion: head.latestVersion,
      // Heads written before a publish may lack the field rather than hold null.
      publishedVersion: head.publishedVersion ?? null,
      updatedAt: head.updatedAt,
    };
  }
}
