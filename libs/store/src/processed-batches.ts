import type { Connection } from 'mongoose';
import { findByIds, type BatchCollection } from './mongo';
import { PROCESSED_EVENTS_COLLECTION, type ProcessedEventDoc } from './processed-events';

interface MarkerCollection extends BatchCollection<ProcessedEventDoc> {
  bulkWrite(
    operations: {
      updateOne: { filter: { _id: string }; update: Record<string, unknown>; upsert: true };
    }[],
    options: { ordered: false },
  ): Promise<unknown>;
}

/**
 * `ProcessedEvents.once` for a consumed batch: which events of it a consumer group has not applied yet (one `_id $in`
 * read), and marking them applied after their effects (one bulk). Same markers as `ProcessedEvents`, so the two
 * paths of one consumer (a batch, and the record-by-record retry of a failed batch) see each other's work; expiry is
 * `ProcessedEvents`' sweep.
 */
export class ProcessedEventBatches {
  constructor(private readonly connection: Connection) {}

  /** The eventIds among `eventIds` not yet marked done under `scope`. */
  async unprocessed(scope: string, eventIds: readonly string[]): Promise<Set<string>> {
    const done = await findByIds(
      this.markers(),
      eventIds.map((id) => `${scope}:${id}`),
      { state: 1 },
    );
    return new Set(eventIds.filter((id) => done.get(`${scope}:${id}`)?.state !== 'done'));
  }

  /** Marks `eventIds` done under `scope`, in one unordered bulk of upserts. */
  async markProcessed(scope: string, eventIds: Iterable<string>): Promise<void> {
    const processedAt = new Date();
    const operations = [...new Set(eventIds)].map((id) => ({
      updateOne: {
        filter: { _id: `${scope}:${id}` },
        update: { $set: { state: 'done', processedAt } },
        upsert: true as const,
      },
    }));
    if (operations.length > 0) await this.markers().bulkWrite(operations, { ordered: false });
  }

  private markers(): MarkerCollection {
    // The driver's typing expects ObjectId ids; markers are keyed by strings.
    return this.connection.collection(PROCESSED_EVENTS_COLLECTION) as unknown as MarkerCollection;
  }
}
