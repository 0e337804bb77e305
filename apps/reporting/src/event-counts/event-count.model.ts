import { Schema, type Connection, type Model } from 'mongoose';

/** Running count of one event type in one workspace (the read model the API and report topic serve). */
export interface EventCountDoc {
  _id: string;
  workspaceId: string;
  eventType: string;
  count: number;
  updatedAt: Date;
}

const eventCountSchema = new Schema<EventCountDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true, index: true },
    eventType: { type: String, required: true },
    count: { type: Number, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'event_counts' },
);

export const EVENT_COUNT_MODEL = Symbol('EVENT_COUNT_MODEL');

export function eventCountModel(connection: Connection): Model<EventCountDoc> {
  return connection.models['EventCount'] ?? connection.model<EventCountDoc>('EventCount', eventCountSchema);
}
