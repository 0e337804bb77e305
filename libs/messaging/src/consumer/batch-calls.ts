import type { MessageHandler } from '@nestjs/microservices';
import type { Context } from '@opentelemetry/api';
import type { KafkaMessage } from 'kafkajs';
import { flattenHeaders } from '../headers';
import { ChunkJoiner } from './chunk-joiner';
import { KafkaEventContext, type ConsumedMessageInfo } from './event-context';
import { callHandler, chunkSizeOf, consumedInfo, joinsPartitions, type ToObservable } from './handlers';
import { producerContext, type ConsumerSpans } from './consumer-tracing';
import type { KafkaEventTransportOptions } from './kafka-event-transport';

/** How often the transport heartbeats while a batch handler runs, well inside the 30 s session timeout. */
const BATCH_HEARTBEAT_MS = 3_000;

/** One partition's records for a batch handler call, decoded, with each record's context and producer span. */
interface Chunk {
  partition: number;
  messages: KafkaMessage[];
  events: unknown[];
  infos: { info: ConsumedMessageInfo; parent: Context }[];
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
        events = await Promise.all(messages.map((message) => this.options.registry.decode(message.value)));
      } catch (error) {
        this.logFailure(topic, [partition], messages, error);
        return false;
      }
      const chunk: Chunk = {
        partition,
        messages,
        events,
        infos: messages.map((message) => {
          const headers = flattenHeaders(message.headers);
          return {
            info: consumedInfo(topic, partition, message, headers, this.options.consumerGroup, 1),
            parent: producerContext(headers),
          };
        }),
      };
      return await (joinsPartitions(handler)
        ? this.joiner.join(topic, chunk, chunkSizeOf(handler), (chunks) => this.call(topic, handler, chunks))
        : this.call(topic, handler, [chunk]));
    } finally {
      clearInterval(beat);
    }
  }

  /** Calls a batch handler once with the records of `chunks`, in partition order; true when it succeeded. */
  private async call(topic: string, handler: MessageHandler, chunks: Chunk[]): Promise<boolean> {
    const partitions = chunks.map((chunk) => chunk.partition);
    const infos = chunks.flatMap((chunk) => chunk.infos);
    try {
      await this.spans.batch(
        topic,
        partitions,
        infos.map(({ parent }) => parent),
        async () => {
          const ctx = new KafkaEventContext(infos.map(({ info }) => info));
          const events = chunks.flatMap((chunk) => chunk.events);
          await callHandler(handler, events, ctx, this.toObservable);
        },
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
