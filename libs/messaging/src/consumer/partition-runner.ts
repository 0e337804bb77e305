import type { MessageHandler } from '@nestjs/microservices';
import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { BatchCalls } from './batch-calls';
import type { CommitBatcher } from './commit-batcher';
import { chunkSizeOf } from './handlers';
import type { RecordProcessor } from './record-processor';
import type { StorePauses } from './store-pause';

/** How long one partition's fetched batch may keep a batch handler busy before the rest waits for the next fetch. */
const BATCH_TIME_BUDGET_MS = 5_000;

/** Heartbeat pacing on the record-by-record path: every this many records, or after this long. */
const HEARTBEAT_EVERY_RECORDS = 100;
const HEARTBEAT_EVERY_MS = 1_000;

/** What the runner drives; the parts are shared by all partitions of the transport. */
export interface PartitionRunnerParts {
  consumer: Pick<Consumer, 'seek'>;
  handlers: ReadonlyMap<string, MessageHandler>;
  batchCalls: Pick<BatchCalls, 'tryChunk'>;
  records: Pick<RecordProcessor, 'process'>;
  pauses: Pick<StorePauses, 'resumeWhenStoreIsBack'>;
  commits: Pick<CommitBatcher, 'commitResolved'>;
  isStopping: () => boolean;
}

/** The part of kafkajs' `eachBatch` payload the runner uses. */
export type BatchPayload = Pick<
  EachBatchPayload,
  | 'resolveOffset'
  | 'heartbeat'
  | 'isRunning'
  | 'isStale'
  | 'pause'
  | 'uncommittedOffsets'
  | 'commitOffsetsIfNecessary'
> & { batch: Pick<Batch, 'topic' | 'partition' | 'messages'> };

/** kafkajs `eachBatch`: one partition's fetched batch, chunk by chunk or record by record, then its commit. */
export class PartitionRunner {
  constructor(private readonly parts: PartitionRunnerParts) {}

  async onBatch(payload: BatchPayload): Promise<void> {
    const { commits } = this.parts;
    try {
      await this.consumeBatch(payload);
    } catch (error) {
      // Commit what was processed before the failure (as kafkajs' auto-commit did): the next owner must not redo it.
      await commits.commitResolved(payload).catch(() => undefined);
      throw error;
    }
    await commits.commitResolved(payload);
  }

  /** Resolves the offset of each record handled; stops early on a stop, a rebalance, a pause or the time budget. */
  private async consumeBatch(payload: BatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat } = payload;
    const chunkSize = chunkSizeOf(this.parts.handlers.get(batch.topic));
    const startedAt = Date.now();
    const beats = { sinceHeartbeat: 0, lastHeartbeat: Date.now() };
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (this.mustStop(payload)) break;
      // Leave the rest of a slow partition's batch to the next fetch, so the other partitions of this fetch are not
      // held up behind it (the next fetch starts after the last resolved offset).
      if (chunkSize > 1 && start > 0 && Date.now() - startedAt > BATCH_TIME_BUDGET_MS) break;
      const chunk = batch.messages.slice(start, start + chunkSize);
      const last = chunk[chunk.length - 1];
      if (
        chunk.length > 1 &&
        last &&
        (await this.parts.batchCalls.tryChunk(batch.topic, batch.partition, chunk, heartbeat))
      ) {
        resolveOffset(last.offset);
        await heartbeat();
        beats.lastHeartbeat = Date.now();
        continue;
      }
      if ((await this.recordByRecord(payload, chunk, beats)) === 'stopped') break;
    }
  }

  private async recordByRecord(
    payload: BatchPayload,
    chunk: KafkaMessage[],
    beats: { sinceHeartbeat: number; lastHeartbeat: number },
  ): Promise<'done' | 'stopped'> {
    const { batch, resolveOffset, heartbeat, pause } = payload;
    for (const message of chunk) {
      if (this.mustStop(payload)) return 'stopped';
      const outcome = await this.parts.records.process(batch.topic, batch.partition, message, heartbeat);
      if (outcome === 'paused') {
        // Rewind to the record that could not be applied and wait for the store; nothing after it is committed.
        this.parts.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: message.offset });
        this.parts.pauses.resumeWhenStoreIsBack(batch.topic, batch.partition, pause());
        return 'stopped';
      }
      resolveOffset(message.offset);
      // kafkajs throttles heartbeats itself, but each call is still an await; a slow handler is covered by the
      // time check, a fast batch by the count.
      if (
        ++beats.sinceHeartbeat >= HEARTBEAT_EVERY_RECORDS ||
        Date.now() - beats.lastHeartbeat > HEARTBEAT_EVERY_MS
      ) {
        await heartbeat();
        beats.sinceHeartbeat = 0;
        beats.lastHeartbeat = Date.now();
      }
    }
    return 'done';
  }

  private mustStop({ isRunning, isStale }: BatchPayload): boolean {
    return !isRunning() || isStale() || this.parts.isStopping();
  }
}
