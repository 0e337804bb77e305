import { Schema, type Connection, type Model } from 'mongoose';
import { deleteExpired, expireDocuments } from './mongo';

/** One marker: a consumer group applied (or began applying) one event. */
export interface ProcessedEventDoc {
  _id: string;
  state: 'started' | 'done';
  processedAt: Date;
}

/** Where the markers live: `ProcessedEvents` and `ProcessedEventBatches` read and write the same ones. */
export const PROCESSED_EVENTS_COLLECTION = 'processed_events';

/**
 * Remembers which events a consumer group already applied (in the service's own database, expiring after a TTL),
 * so a redelivered event does not repeat its effect. Works without multi-document transactions:
 * the marker is written after the effect, and an effect interrupted half-way is run again (effects must be
 * idempotent upserts; derived events get deterministic ids so downstream dedupe absorbs the repeat).
 */
export class ProcessedEvents {
  private readonly model: Model<ProcessedEventDoc>;

  constructor(connection: Connection, ttlHours: number) {
    const schema = new Schema<ProcessedEventDoc>(
      {
        _id: { type: String, required: true },
        state: { type: String, required: true },
        processedAt: { type: Date, required: true },
      },
      { versionKey: false, collection: PROCESSED_EVENTS_COLLECTION },
    );
    this.model =
      connection.models['ProcessedEvent'] ?? connection.model<ProcessedEventDoc>('ProcessedEvent', schema);
    this.ttlMs = ttlHours * 3_600_000;
  }

  private readonly ttlMs: number;
  private expiry?: { stop(): void };

  /** Expires markers after the TTL (TTL index on MongoDB, a sweep on FerretDB). */
  async init(sweepEveryMs = 600_000): Promise<'ttl-index' | 'sweeper'> {
    const expiry = await expireDocuments(this.model.collection, 'processedAt', this.ttlMs, sweepEveryMs);
    this.expiry = expiry;
    return expiry.mode;
  }

  /** Deletes markers older than the TTL; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    return deleteExpired(this.model.collection, 'processedAt', this.ttlMs, now);
  }

  /** Stops the sweeper (service shutdown). */
  stop(): void {
    this.expiry?.stop();
  }

  /** Runs `effect` unless `scope:eventId` was already completed; says whether it ran, with its result. */
  async once<T>(
    scope: string,
    eventId: string,
    effect: () => Promise<T>,
  ): Promise<{ applied: true; result: T } | { applied: false }> {
    const id = `${scope}:${eventId}`;
    const existing = await this.model.findById(id, { state: 1 }).lean();
    if (existing?.state === 'done') return { applied: false };
    const result = await effect();
    await this.model.updateOne(
      { _id: id },
      { $set: { state: 'done', processedAt: new Date() } },
      { upsert: true },
    );
    return { applied: true, result };
  }

  /** Whether `scope:eventId` was completed. */
  async seen(scope: string, eventId: string): Promise<boolean> {
    return (await this.model.exists({ _id: `${scope}:${eventId}`, state: 'done' })) !== null;
  }
}
