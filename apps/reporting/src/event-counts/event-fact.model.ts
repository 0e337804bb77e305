import { Schema, type Connection, type Model } from 'mongoose';

/** One observed event: keyed by eventId, so a redelivered event is stored once and counted once. */
export interface EventFactDoc {
  _id: string;
  workspaceId: string;
  eventType: string;
  occurredAt: Date;
}

const eventFactSchema = new Schema<EventFactDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    eventType: { type: String, required: true },
    occurredAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'event_facts' },
);
eventFactSchema.index({ workspaceId: 1, eventType: 1 });

export const EVENT_FACT_MODEL = Symbol('EVENT_FACT_MODEL');

export function eventFactModel(connection: Connection): Model<EventFactDoc> {
  return connection.models['EventFact'] ?? connection.model<EventFactDoc>('EventFact', eventFactSchema);
}
