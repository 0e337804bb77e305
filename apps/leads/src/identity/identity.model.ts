import { Schema, type Connection, type Model } from 'mongoose';
import type { EventMetadata } from '@tributary/contracts';
import type { MergeReason } from './identity-rules';

/**
 * Identity index: `ws:anon:<id>` / `ws:user:<id>` / `ws:email:<email>` → contactId. Keyed by `_id` because FerretDB
 * answers `_id` lookups from its primary key and everything else with a full scan.
 */
export interface IdentityDoc {
  _id: string;
  workspaceId: string;
  contactId: string;
  updatedAt: Date;
}

/** Merge history: one record per merged contact (a contact is merged at most once), keyed by its id. */
export interface ContactMergeDoc {
  _id: string;
  workspaceId: string;
  survivingContactId: string;
  reason: MergeReason;
  /** Metadata of the `contacts.merged` event, fixed at first sight so a re-announcement keeps its eventId. */
  metadata: EventMetadata;
  /** `moving` until the score is on the survivor and the merge is announced. */
  state: 'moving' | 'done';
  movedScore?: number;
  movedEventCount?: number;
  mergedAt: Date;
}

const identitySchema = new Schema<IdentityDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contactId: { type: String, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'identities' },
);

const contactMergeSchema = new Schema<ContactMergeDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    survivingContactId: { type: String, required: true },
    reason: { type: String, required: true },
    metadata: { type: Schema.Types.Mixed, required: true },
    state: { type: String, required: true },
    movedScore: { type: Number },
    movedEventCount: { type: Number },
    mergedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'contact_merges' },
);

export const IDENTITY_MODEL = Symbol('IDENTITY_MODEL');
export const CONTACT_MERGE_MODEL = Symbol('CONTACT_MERGE_MODEL');

export function identityModel(connection: Connection): Model<IdentityDoc> {
  return connection.models['Identity'] ?? connection.model<IdentityDoc>('Identity', identitySchema);
}

export function contactMergeModel(connection: Connection): Model<ContactMergeDoc> {
  return (
    connection.models['ContactMerge'] ?? connection.model<ContactMergeDoc>('ContactMerge', contactMergeSchema)
  );
}
