import { Inject, Injectable } from '@nestjs/common';
import type { FilterQuery, Model } from 'mongoose';
import {
  GOLDEN_HISTORY_MODEL,
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  goldenKeyOf,
  type GoldenEntity,
  type GoldenFieldChange,
  type GoldenHistoryDoc,
  type GoldenKeyDoc,
  type GoldenLink,
  type GoldenRecordDoc,
} from './golden-record.model';

/** A golden record as the API shows it. */
export interface GoldenRecordView {
  id: string;
  entity: GoldenEntity;
  /** The surviving values. */
  values: Record<string, string>;
  /** Where each surviving value came from: the source, its own time, the rule that decided. */
  provenance: Record<string, { source: string; sourceAt: string; rule: string }>;
  /** What each source last said of each field (what survivorship decides from). */
  sources: Record<string, Record<string, { value: string | null; at: string }>>;
  locked: string[];
  links: GoldenLink[];
  version: number;
  /** This record and the records folded into it (their history is this record's). */
  mergedIds: string[];
  erasedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface HistoryEntryView {
  eventId: string;
  goldenId: string;
  version: number;
  cause: string;
  causeSystem: string | null;
  causeExternalId: string | null;
  at: string;
  changes: (Omit<GoldenFieldChange, 'sourceAt'> & { sourceAt: string | null })[];
  conflicts: ConflictView[];
}

export interface ConflictView {
  goldenId: string;
  field: string;
  rule: string;
  at: string;
  winner: { value: string | null; source: string; sourceAt: string };
  loser: { value: string | null; source: string; sourceAt: string };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The read side of golden records, always within one workspace. */
@Injectable()
export class GoldenRecordQueries {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(GOLDEN_KEY_MODEL) private readonly keys: Model<GoldenKeyDoc>,
    @Inject(GOLDEN_HISTORY_MODEL) private readonly changes: Model<GoldenHistoryDoc>,
  ) {}

  /** The record, or the one it was merged into; null when the workspace has no such record. */
  async get(workspaceId: string, id: string): Promise<GoldenRecordView | null> {
    let doc = await this.records.findOne({ _id: id, workspaceId }).lean();
    for (let hop = 0; doc?.mergedInto && hop < 8; hop += 1)
      doc = await this.records.findOne({ _id: doc.mergedInto, workspaceId }).lean();
    if (!doc) return null;
    return viewOf(doc, await this.mergedInto(workspaceId, doc._id));
  }

  async list(
    workspaceId: string,
    query: {
      entity: GoldenEntity;
      limit: number;
      after?: string | undefined;
      email?: string | undefined;
      system?: string | undefined;
      externalId?: string | undefined;
    },
  ): Promise<{ records: GoldenRecordView[]; next: string | null }> {
    const filter: FilterQuery<GoldenRecordDoc> = { workspaceId, entity: query.entity, mergedInto: null };
    const key = query.email
      ? goldenKeyOf(workspaceId, query.entity, 'email', query.email.trim().toLowerCase())
      : query.system && query.externalId
        ? goldenKeyOf(workspaceId, query.entity, query.system, query.externalId)
        : null;
    if (key) {
      const found = await this.keys.findOne({ _id: key, workspaceId }).lean();
      if (!found) return { records: [], next: null };
      const record = await this.get(workspaceId, found.goldenId);
      return { records: record ? [record] : [], next: null };
    }
    if (query.after) filter._id = { $gt: query.after };
    const docs = await this.records
      .find(filter)
      .sort({ _id: 1 })
      .limit(query.limit + 1)
      .lean();
    const page = docs.slice(0, query.limit);
    return {
      records: page.map((doc) => viewOf(doc, [doc._id])),
      next: docs.length > query.limit ? (page.at(-1)?._id ?? null) : null,
    };
  }

  async history(
    workspaceId: string,
    goldenIds: readonly string[],
    query: { limit: number; before?: number | undefined },
  ): Promise<{ entries: HistoryEntryView[]; next: number | null }> {
    const filter: FilterQuery<GoldenHistoryDoc> = { workspaceId, goldenId: { $in: [...goldenIds] } };
    if (query.before) filter.at = { $lt: new Date(query.before) };
    const docs = await this.changes
      .find(filter)
      .sort({ at: -1, _id: 1 })
      .limit(query.limit + 1)
      .lean();
    const page = docs.slice(0, query.limit);
    return {
      entries: page.map((doc) => ({
        eventId: doc.eventId,
        goldenId: doc.goldenId,
        version: doc.version,
        cause: doc.cause,
        causeSystem: doc.causeSystem,
        causeExternalId: doc.causeExternalId,
        at: doc.at.toISOString(),
        changes: doc.changes.map((c) => ({ ...c, sourceAt: c.sourceAt === null ? null : iso(c.sourceAt) })),
        conflicts: conflictViews(doc),
      })),
      next: docs.length > query.limit ? (page.at(-1)?.at.getTime() ?? null) : null,
    };
  }

  /** Conflicts, newest first: of the given records, or of the whole workspace. */
  async conflicts(
    workspaceId: string,
    goldenIds: readonly string[] | null,
    query: { limit: number; since?: string | undefined },
  ): Promise<{ conflicts: ConflictView[] }> {
    const filter: FilterQuery<GoldenHistoryDoc> = { workspaceId, conflictCount: { $gt: 0 } };
    if (goldenIds) filter.goldenId = { $in: [...goldenIds] };
    if (query.since) filter.at = { $gte: new Date(query.since) };
    const docs = await this.changes.find(filter).sort({ at: -1, _id: 1 }).limit(query.limit).lean();
    return { conflicts: docs.flatMap(conflictViews).slice(0, query.limit) };
  }

  private async mergedInto(workspaceId: string, id: string): Promise<string[]> {
    const ids = [id];
    let frontier = [id];
    for (let hop = 0; frontier.length > 0 && hop < 8; hop += 1) {
      const folded = await this.records
        .find({ workspaceId, mergedInto: { $in: frontier } }, { _id: 1 })
        .lean();
      frontier = folded.map((d) => d._id).filter((d) => !ids.includes(d));
      ids.push(...frontier);
    }
    return ids;
  }
}

function viewOf(doc: GoldenRecordDoc, mergedIds: string[]): GoldenRecordView {
  const sources: GoldenRecordView['sources'] = {};
  const locked: string[] = [];
  for (const [field, state] of Object.entries(doc.fields)) {
    sources[field] = Object.fromEntries(
      Object.entries(state.bySource).map(([source, v]) => [source, { value: v.value, at: iso(v.sourceAt) }]),
    );
    if (state.lock?.locked) locked.push(field);
  }
  return {
    id: doc._id,
    entity: doc.entity,
    values: doc.values,
    provenance: Object.fromEntries(
      Object.entries(doc.provenance).map(([field, p]) => [
        field,
        { source: p.source, sourceAt: iso(p.sourceAt), rule: p.rule },
      ]),
    ),
    sources,
    locked: locked.sort(),
    links: doc.links,
    version: doc.version,
    mergedIds,
    erasedAt: doc.erasedAt?.toISOString() ?? null,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}

function conflictViews(doc: GoldenHistoryDoc): ConflictView[] {
  return (doc.conflicts ?? []).map((c) => ({
    goldenId: doc.goldenId,
    field: c.field,
    rule: c.rule,
    at: doc.at.toISOString(),
    winner: { value: c.winner.value, source: c.winner.source, sourceAt: iso(c.winner.sourceAt) },
    loser: { value: c.loser.value, source: c.loser.source, sourceAt: iso(c.loser.sourceAt) },
  }));
}
