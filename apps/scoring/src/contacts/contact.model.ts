import { Schema, type Connection, type Model } from 'mongoose';

/** A contact as scoring knows it: one document per contact, in the scoring database. */
export interface ContactDoc {
  _id: string;
  workspaceId: string;
  score: number;
  eventCount: number;
  lastRule: string;
  updatedAt: Date;
  /** Set once this contact was folded into another (identity resolution); its score then lives there. */
  mergedInto?: string;
}

const contactSchema = new Schema<ContactDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    score: { type: Number, required: true, default: 0 },
    eventCount: { type: Number, required: true, default: 0 },
    lastRule: { type: String, required: true },
    updatedAt: { type: Date, required: true },
    mergedInto: { type: String },
  },
  { versionKey: false, collection: 'contacts' },
);

export const CONTACT_MODEL = Symbol('CONTACT_MODEL');

export function contactModel(connection: Connection): Model<ContactDoc> {
  return connection.models['Contact'] ?? connection.model<ContactDoc>('Contact', contactSchema);
}
