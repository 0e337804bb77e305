import { Schema, type Connection, type Model } from 'mongoose';

/** The golden record of a contact: merged fields with the system each value came from. */
export interface GoldenRecordDoc {
  _id: string;
  workspaceId: string;
  fields: { leadScore: number };
  fieldSources: { leadScore: string };
  updatedAt: Date;
}

const goldenRecordSchema = new Schema<GoldenRecordDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    fields: { leadScore: { type: Number, required: true } },
    fieldSources: { leadScore: { type: String, required: true } },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'golden_records' },
);

export const GOLDEN_RECORD_MODEL = Symbol('GOLDEN_RECORD_MODEL');

export function goldenRecordModel(connection: Connection): Model<GoldenRecordDoc> {
  return (
    connection.models['GoldenRecord'] ?? connection.model<GoldenRecordDoc>('GoldenRecord', goldenRecordSchema)
  );
}
