import { Schema, type Connection } from 'mongoose';
import type { GoldenRecordChanged } from '@tributary/contracts';
import { modelOf } from '../connections/connection.models';
import type { FieldConflict, FieldState, SurvivorshipRules, SurvivingValue } from './survivorship';

export type GoldenEntity = 'contact' | 'company';
export type GoldenFieldChange = GoldenRecordChanged['changes'][number];
export type GoldenChangeCause = 'source_change' | 'merge' | 'manual' | 'rules' | 'erasure';

/** A record in another system (or a lead pipeline contact, system `leads`) that is this golden record. */
export interface GoldenLink {
  system: string;
  externalId: string;
}

/** A change applied to a golden record but not yet announced: written with the state, so a crash cannot lose it. */
export interface PendingAnnouncement {
  eventId: string;
  /** The cause's flow, carried onto the announcement. */
  metadata: { correlationId: string; causationId: string };
  cause: GoldenChangeCause;
  causeSystem: string | null;
  causeExternalId: string | null;
  at: number;
  changes: GoldenFieldChange[];
  conflicts: FieldConflict[];
  mergedGoldenId: string | null;
  version: number;
}

/**
 * The golden record of a contact or company: per canonical field, what each source last said and the lock
 * (survivorship decides from those), the surviving values with their provenance, and the records it links.
 */
export interface GoldenRecordDoc {
  _id: string;
  workspaceId: string;
  entity: GoldenEntity;
  fields: Record<string, FieldState>;
  values: Record<string, string>;
  provenance: Record<string, Omit<SurvivingValue, 'value' | 'eventId'>>;
  links: GoldenLink[];
  /** Set when this record was folded into another: reads and later changes go there. */
  mergedInto: string | null;
  /** Set once the person was erased: the record holds no values and takes none. */
  erasedAt: Date | null;
  outbox: PendingAnnouncement[];
  version: number;
  /** The write that set this version: how a batch tells which of its conditional writes stood. */
  lastWrite?: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * How records find their golden record: `workspace|entity|kind:value` where kind is a system (its record id) or a
 * match key (`email:`, `domain:`). For a system's record it also holds a hash of each field's value as last seen
 * from that system or last written to it: what makes a write come back as an echo rather than a change.
 */
export interface GoldenKeyDoc {
  _id: string;
  workspaceId: string;
  goldenId: string;
  held?: Record<string, HeldValue>;
}

export interface HeldValue {
  hash: string;
  /** True when Tributary wrote it (an echo), false when the system reported it. */
  written: boolean;
  at: number;
}

/** One applied change of a golden record: what changed (field, before, after, provenance) and the conflicts met. */
export interface GoldenHistoryDoc {
  _id: string;
  workspaceId: string;
  goldenId: string;
  eventId: string;
  cause: GoldenChangeCause;
  causeSystem: string | null;
  causeExternalId: string | null;
  changes: GoldenFieldChange[];
  conflicts: FieldConflict[];
  conflictCount: number;
  version: number;
  at: Date;
}

/** A workspace's survivorship rules for one entity. */
export interface SurvivorshipRulesDoc {
  _id: string;
  workspaceId: string;
  entity: GoldenEntity;
  rules: SurvivorshipRules;
  updatedAt: Date;
}

const goldenRecordSchema = new Schema<GoldenRecordDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    entity: { type: String, required: true },
    fields: { type: Schema.Types.Mixed, default: {} },
    values: { type: Schema.Types.Mixed, default: {} },
    provenance: { type: Schema.Types.Mixed, default: {} },
    links: { type: Schema.Types.Mixed, default: [] },
    mergedInto: { type: String, default: null },
    erasedAt: { type: Date, default: null },
    outbox: { type: Schema.Types.Mixed, default: [] },
    version: { type: Number, required: true },
    lastWrite: { type: String },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, minimize: false, collection: 'golden_records' },
);
goldenRecordSchema.index({ workspaceId: 1, entity: 1, _id: 1 });

const keySchema = new Schema<GoldenKeyDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    goldenId: { type: String, required: true },
    held: { type: Schema.Types.Mixed },
  },
  { versionKey: false, minimize: false, collection: 'golden_record_keys' },
);

const historySchema = new Schema<GoldenHistoryDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    goldenId: { type: String, required: true },
    eventId: { type: String, required: true },
    cause: { type: String, required: true },
    causeSystem: { type: String, default: null },
    causeExternalId: { type: String, default: null },
    changes: { type: Schema.Types.Mixed, default: [] },
    conflicts: { type: Schema.Types.Mixed, default: [] },
    conflictCount: { type: Number, required: true },
    version: { type: Number, required: true },
    at: { type: Date, required: true },
  },
  { versionKey: false, minimize: false, collection: 'golden_record_history' },
);
historySchema.index({ goldenId: 1, version: 1 });
historySchema.index({ workspaceId: 1, conflictCount: 1, at: -1 });

const rulesSchema = new Schema<SurvivorshipRulesDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    entity: { type: String, required: true },
    rules: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, minimize: false, collection: 'golden_record_rules' },
);

export const GOLDEN_RECORD_MODEL = Symbol('GOLDEN_RECORD_MODEL');
export const GOLDEN_KEY_MODEL = Symbol('GOLDEN_KEY_MODEL');
export const GOLDEN_HISTORY_MODEL = Symbol('GOLDEN_HISTORY_MODEL');
export const SURVIVORSHIP_RULES_MODEL = Symbol('SURVIVORSHIP_RULES_MODEL');

export const goldenRecordModel = (c: Connection) => modelOf(c, 'GoldenRecord', goldenRecordSchema);
export const goldenKeyModel = (c: Connection) => modelOf(c, 'GoldenRecordKey', keySchema);
export const goldenHistoryModel = (c: Connection) => modelOf(c, 'GoldenRecordHistory', historySchema);
export const survivorshipRulesModel = (c: Connection) => modelOf(c, 'SurvivorshipRules', rulesSchema);

/** The key of a system's record, or of a match key (`email:a@b.com`), in a workspace's entity. */
export const goldenKeyOf = (workspaceId: string, entity: string, kind: string, value: string) =>
  `${workspaceId}|${entity}|${kind}:${value}`;
