import type { MessageHandler } from '@nestjs/microservices';
import type { KafkaMessage } from 'kafkajs';
import { flattenHeaders } from '../headers';
import { ChunkJoiner } from './chunk-joiner';
import { KafkaEventContext } from './event-context';
import { callHandler, chunkSizeOf, consumedInfo, joinsPartitions, type ToObservable } from './handlers';
import { tracedRecord, type ConsumerSpans, type TracedRecord } from './consumer-tracing';
import type { KafkaEventTransportOptions } from './kafka-event-transport';

/** How often the transport heartbeats while a batch handler runs, well inside the 30 s session timeout. */
const BATCH_HEARTBEAT_MS = 3_000;

/** One partition's records for a batch handler call, decoded, with those whose producer's trace is sampled. */
interface Chunk {
  partition: number;
  messages: KafkaMessage[];
  events: unknown[];
  traced: TracedRecord[];
}

export type BatchCallOptions = Pick<KafkaEventTransportOptions, 'registry' | 'logger' | 'consumerGroup'>;

/** Batch handler calls: a chunk of records in one call, possibly joined with other partitions' chunks. */
export class BatchCalls {
  private readonly joiner = new ChunkJoiner<Chunk>();

  constructor(
    private readonly options: BatchCallOptions,
    private readonly handlers: ReadonlyMap<string, MessageHandler>,
    private readonly toObservable: ToObservable,
    private readonly spans: ConsumerSpans,
  ) {}

  /**
   * Hands `messages` to their topic's batch handler; false (nothing applied for sure) when a record does not decode
   * or the call fails, and the caller then goes record by record.
   */
  async tryChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    const handler = this.handlers.get(topic);
    if (!handler) return false;
    // A long call must not look like a dead consumer: the group would evict it and hand the batch to another.
    const beat = setInterval(() => void heartbeat().catch(() => undefined), BATCH_HEARTBEAT_MS);
    try {
      let events: unknown[];
      try {
        events = await this.decodeAll(topic, messages);
      } catch (error) {
        this.logFailure(topic, [partition], messages, error);
        return false;
      }
      const traced: TracedRecord[] = [];
      for (const message of messages) {
        const record = tracedRecord(message.headers, partition, message.offset);
        if (record) traced.push(record);
      }
      const chunk: Chunk = { partition, messages, events, traced };
      return await (joinsPartitions(handler)
        ? this.joiner.join(topic, chunk, chunkSizeOf(handler), (chunks) => this.call(topic, handler, chunks))
        : this.call(topic, handler, [chunk]));
    } finally {
      clearInterval(beat);
    }
  }

  /** Decodes a chunk; a promise only for the records whose writer schema is not cached yet. */
  private async decodeAll(topic: string, messages: readonly KafkaMessage[]): Promise<unknown[]> {
    const { registry } = this.options;
    const events: unknown[] = new Array(messages.length);
    const fetching: Promise<void>[] = [];
    messages.forEach((message, i) => {
      const cached = registry.decodeCached(message.value, topic);
      if (cached) events[i] = cached.value;
      else fetching.push(registry.decode(message.value, topic).then((event) => void (events[i] = event)));
    });
    if (fetching.length > 0) await Promise.all(fetching);
    return events;
  }

  /** Calls a batch handler once with the records of `chunks`, in partition order; true when it succeeded. */
  private async call(topic: string, handler: MessageHandler, chunks: Chunk[]): Promise<boolean> {
    const partitions = chunks.map((chunk) => chunk.partition);
    const events = chunks.length === 1 ? (chunks[0]?.events ?? []) : chunks.flatMap((chunk) => chunk.events);
    const { consumerGroup } = this.options;
    // Described only if the handler asks for its context.
    const ctx = new KafkaEventContext({
      lazy: () =>
        chunks.flatMap((chunk) =>
          chunk.messages.map((message) =>
            consumedInfo(topic, chunk.partition, message, flattenHeaders(message.headers), consumerGroup, 1),
          ),
        ),
      positions: () =>
        chunks.flatMap(({ partition, messages }) =>
          messages.map(({ offset }) => ({ topic, partition, offset })),
        ),
    });
    try {
      await this.spans.batch(
        topic,
        partitions,
        events.length,
        chunks.flatMap((chunk) => chunk.traced),
        () => callHandler(handler, events, ctx, this.toObservable),
      );
      return true;
    } catch (error) {
      this.logFailure(
        topic,
        partitions,
        chunks.flatMap((chunk) => chunk.messages),
        error,
      );
      return false;
    }
  }

  private logFailure(topic: string, partitions: number[], messages: KafkaMessage[], error: unknown): void {
    this.options.logger.warn(
      {
        topic,
        partitions,
        from: messages[0]?.offset,
        count: messages.length,
        err: (error as Error).message,
      },
      'batch failed: going record by record',
    );
  }
}
