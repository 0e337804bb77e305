import { Schema } from 'mongoose';
import type { AuditEntry, ContentEvent } from '@tributary/contracts';
import { modelProvider } from '../engine/engine.models';
import type { ContentKind, ContentStatus, DestinationName, DestinationState } from './content-workflow';

/**
 * The content workflow's own state in orchestration's store: items (the head: status, destinations, lease, outbox),
 * every body version as written, comments, due-time entries, the audit trail, per-workspace destination settings
 * and the newsletter's per-recipient send records.
 */

/** A step to announce, kept on the item until it is on `content.events` and in the audit trail. */
export interface OutboxEntry {
  seq: number;
  event: ContentEvent;
  audit: AuditEntry;
}

/** An item's head, `_id: <workspaceId>:<contentId>`. */
export interface ContentItemDoc {
  _id: string;
  workspaceId: string;
  contentId: string;
  kind: ContentKind;
  status: ContentStatus;
  /** The latest version's title (lists show it). */
  title: string;
  latestVersion: number;
  approvedVersion: number | null;
  approvedBy: string | null;
  /** The version the destinations show (or showed, once unpublished). */
  publishedVersion: number | null;
  /** Credential ids of everyone who wrote a version: none of them may approve it. */
  authors: string[];
  createdBy: string;
  destinations: DestinationState[];
  publishAt: Date | null;
  /** Request id of the publish or schedule call: the correlation id of every step it leads to. */
  flowId: string | null;
  /** Bumped by every write: a writer that read an older revision lost a race and reads again. */
  revision: number;
  /** Steps written with the state change and announced after it, by eventId (`seq` orders them). */
  outbox: Record<string, OutboxEntry>;
  /** When the publisher must look at the item next (due publishAt, a destination's retry, an unannounced step). */
  wakeAt?: Date;
  leaseUntil: Date;
  leaseOwner: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const destinationSchema = new Schema<DestinationState>(
  {
    name: { type: String, required: true },
    status: { type: String, required: true },
    remoteId: { type: String, default: null },
    remoteUrl: { type: String, default: null },
    attempts: { type: Number, default: 0 },
    lastError: { type: String, default: null },
    nextAttemptAt: { type: Date, default: null },
    publishedVersion: { type: Number, default: null },
    note: { type: String, default: null },
  },
  { _id: false },
);

const itemSchema = new Schema<ContentItemDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contentId: { type: String, required: true },
    kind: { type: String, required: true },
    status: { type: String, required: true },
    title: { type: String, required: true },
    latestVersion: { type: Number, required: true },
    approvedVersion: { type: Number, default: null },
    approvedBy: { type: String, default: null },
    publishedVersion: { type: Number, default: null },
    authors: { type: [String], default: [] },
    createdBy: { type: String, required: true },
    destinations: { type: [destinationSchema], default: [] },
    publishAt: { type: Date, default: null },
    flowId: { type: String, default: null },
    revision: { type: Number, required: true },
    outbox: { type: Schema.Types.Mixed, default: {} },
    wakeAt: { type: Date },
    leaseUntil: { type: Date, required: true },
    leaseOwner: { type: String, default: null },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'content_items', minimize: false },
);
itemSchema.index({ workspaceId: 1, updatedAt: -1 });

/** One body version, `_id: <workspaceId>:<contentId>:<version>`; never changed once written. */
export interface ContentVersionDoc {
  _id: string;
  workspaceId: string;
  contentId: string;
  version: number;
  title: string;
  body: string;
  excerpt: string | null;
  createdBy: string;
  createdAt: Date;
}

const versionSchema = new Schema<ContentVersionDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contentId: { type: String, required: true },
    version: { type: Number, required: true },
    title: { type: String, required: true },
    body: { type: String, required: true },
    excerpt: { type: String, default: null },
    createdBy: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'content_versions' },
);
versionSchema.index({ workspaceId: 1, contentId: 1, version: 1 });

export interface ContentCommentDoc {
  _id: string;
  workspaceId: string;
  contentId: string;
  /** The version commented on. */
  version: number;
  body: string;
  author: string;
  /** `changes_requested` when the comment came with a request for changes. */
  kind: 'comment' | 'changes_requested';
  createdAt: Date;
}

const commentSchema = new Schema<ContentCommentDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contentId: { type: String, required: true },
    version: { type: Number, required: true },
    body: { type: String, required: true },
    author: { type: String, required: true },
    kind: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'content_comments' },
);
commentSchema.index({ workspaceId: 1, contentId: 1, createdAt: 1 });

/**
 * Due-time entries, `_id: t|<due ms, 15 digits>|<item _id>` (engine.models' timer scheme): due entries are an `_id`
 * range, the one range FerretDB serves from an index. An entry only says "look at this item then".
 */
export interface ContentTimerDoc {
  _id: string;
}

const timerSchema = new Schema<ContentTimerDoc>(
  { _id: { type: String, required: true } },
  { versionKey: false, collection: 'content_timers' },
);

/**
 * An audit record of the content workflow, the shape of `audit.log`'s AuditEntry (that topic is the edge's own:
 * ingestion produces it), kept in orchestration's store; `_id` is the step's eventId, so a replayed step is one record.
 */
export interface ContentAuditDoc extends AuditEntry {
  _id: string;
  workspaceId: string;
  contentId: string;
  at: Date;
}

const auditSchema = new Schema<ContentAuditDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contentId: { type: String, required: true },
    at: { type: Date, required: true },
    metadata: { type: Schema.Types.Mixed, required: true },
    action: { type: String, required: true },
    actorCredentialId: { type: String, required: true },
    actorWorkspaceId: { type: String, default: null },
    targetType: { type: String, required: true },
    targetId: { type: String, required: true },
    outcome: { type: String, required: true },
    reason: { type: String, default: null },
    requestId: { type: String, required: true },
    detailsJson: { type: String, default: null },
  },
  { versionKey: false, collection: 'content_audit' },
);
auditSchema.index({ workspaceId: 1, contentId: 1, at: 1 });

/** A workspace's settings of one destination, `_id: <workspaceId>:<destination>`; secrets sealed (see DestinationSecrets). */
export interface DestinationSettingsDoc {
  _id: string;
  workspaceId: string;
  destination: DestinationName;
  /** Everything but secrets, as written. */
  settings: Record<string, unknown>;
  /** Secret fields, each sealed with CONTENT_SECRETS_KEY. */
  sealed: Record<string, string>;
  updatedAt: Date;
  updatedBy: string;
}

const settingsSchema = new Schema<DestinationSettingsDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    destination: { type: String, required: true },
    settings: { type: Schema.Types.Mixed, default: {} },
    sealed: { type: Schema.Types.Mixed, default: {} },
    updatedAt: { type: Date, required: true },
    updatedBy: { type: String, required: true },
  },
  { versionKey: false, collection: 'content_destination_settings', minimize: false },
);

/**
 * One newsletter email, `_id: <item _id>:<version>:<address>`: `sending` before the provider call, then `sent`,
 * `failed` (refused for good) or `retry` (refused for now: the next round sends it).
 */
export interface NewsletterSendDoc {
  _id: string;
  status: 'sending' | 'sent' | 'failed' | 'retry';
  providerMessageId: string | null;
  reason: string | null;
  updatedAt: Date;
}

const newsletterSendSchema = new Schema<NewsletterSendDoc>(
  {
    _id: { type: String, required: true },
    status: { type: String, required: true },
    providerMessageId: { type: String, default: null },
    reason: { type: String, default: null },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'content_newsletter_sends' },
);

export const CONTENT_ITEM_MODEL = Symbol('CONTENT_ITEM_MODEL');
export const CONTENT_VERSION_MODEL = Symbol('CONTENT_VERSION_MODEL');
export const CONTENT_COMMENT_MODEL = Symbol('CONTENT_COMMENT_MODEL');
export const CONTENT_TIMER_MODEL = Symbol('CONTENT_TIMER_MODEL');
export const CONTENT_AUDIT_MODEL = Symbol('CONTENT_AUDIT_MODEL');
export const DESTINATION_SETTINGS_MODEL = Symbol('DESTINATION_SETTINGS_MODEL');
export const NEWSLETTER_SEND_MODEL = Symbol('NEWSLETTER_SEND_MODEL');

export const contentModelProviders = [
  modelProvider(CONTENT_ITEM_MODEL, 'ContentItem', itemSchema),
  modelProvider(CONTENT_VERSION_MODEL, 'ContentVersion', versionSchema),
  modelProvider(CONTENT_COMMENT_MODEL, 'ContentComment', commentSchema),
  modelProvider(CONTENT_TIMER_MODEL, 'ContentTimer', timerSchema),
  modelProvider(CONTENT_AUDIT_MODEL, 'ContentAudit', auditSchema),
  modelProvider(DESTINATION_SETTINGS_MODEL, 'ContentDestinationSettings', settingsSchema),
  modelProvider(NEWSLETTER_SEND_MODEL, 'ContentNewsletterSend', newsletterSendSchema),
];
