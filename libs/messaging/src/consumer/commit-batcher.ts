import type { EachBatchPayload } from 'kafkajs';

/** The part of a kafkajs batch payload that commits; its offsets are the whole consumer's, not one partition's. */
export type OffsetCommitter = Pick<EachBatchPayload, 'uncommittedOffsets' | 'commitOffsetsIfNecessary'>;

/**
 * Commits resolved offsets in one request for all the partitions whose batches end in the same turn of the event
 * loop, instead of one request per partition's batch (see docs/architecture.md, "Commits").
 */
export class CommitBatcher {
  /** The commit the batches ending in this turn share. */
  private pending: Promise<void> | undefined;

  commitResolved(payload: OffsetCommitter): Promise<void> {
    this.pending ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.pending = undefined;
        const offsets = payload.uncommittedOffsets();
        if (offsets.topics.length === 0) resolve();
        else payload.commitOffsetsIfNecessary(offsets).then(resolve, reject);
      }),
    );
    return this.pending;
  }
}
