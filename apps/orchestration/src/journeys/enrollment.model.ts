import { Schema, type Connection, type Model } from 'mongoose';

/** A contact's place in a journey: one document per (workspace, journey, contact). */
export interface EnrollmentDoc {
  _id: string;
  workspaceId: string;
  journeyId: string;
  contactId: string;
  step: string;
  updatedAt: Date;
}

const enrollmentSchema = new Schema<EnrollmentDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    journeyId: { type: String, required: true },
    contactId: { type: String, required: true },
    step: { type: String, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'enrollments' },
);

export const ENROLLMENT_MODEL = Symbol('ENROLLMENT_MODEL');

export function enrollmentModel(connection: Connection): Model<EnrollmentDoc> {
  return connection.models['Enrollment'] ?? connection.model<EnrollmentDoc>('Enrollment', enrollmentSchema);
}
