import type { MessageHandler } from '@nestjs/microservices';
import type { KafkaMessage } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { flattenHeaders } from '../headers';
import { deadLetterTopic, toDeadLetter } from './dead-letter';
import { KafkaEventContext } from './event-context';
import { decideOnFailure } from './failure-policy';
import { callHandler, consumedInfo, isBatchHandler, type ToObservable } from './handlers';
import { producerContext, type ConsumerSpans } from './consumer-tracing';
import type { KafkaEventTransportOptions } from './kafka-event-transport';

/** `paused`: the store is down (or the transport stops) and the record was not handled; nothing after it may be. */
export type Outcome = 'processed' | 'paused';

export type RecordProcessorOptions = Pick<
  KafkaEventTransportOptions,
  'registry' | 'publisher' | 'logger' | 'retry' | 'consumerGroup'
>;

/** One record at a time, with the failure policy: retry with backoff, dead-letter, or pause the partition. */
export class RecordProcessor {
  constructor(
    private readonly options: RecordProcessorOptions,
    private readonly handlers: ReadonlyMap<string, MessageHandler>,
    private readonly toObservable: ToObservable,
    private readonly spans: ConsumerSpans,
    private readonly isStopping: () => boolean,
  ) {}

  async process(
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<Outcome> {
    const { registry, consumerGroup } = this.options;
    const headers = flattenHeaders(message.headers);
    const parent = producerContext(headers);
    // Our patterns are plain topic names: a direct lookup skips Nest's per-call JSON.parse in getHandlerByPattern.
    const handler = this.handlers.get(topic);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spans.record(topic, partition, message.offset, attempt, parent, () => {
          const call = (event: unknown): Promise<void> => {
            if (!handler) throw new Error(`no handler for ${topic}`);
            const info = consumedInfo(topic, partition, message, headers, consumerGroup, attempt);
            const input = isBatchHandler(handler) ? [event] : event;
            return callHandler(handler, input, new KafkaEventContext([info]), this.toObservable);
          };
          // The writer schema is cached after a topic's first record: decode without a promise per record.
          const cached = registry.decodeCached(message.value, topic);
          return cached ? call(cached.value) : registry.decode(message.value, topic).then(call);
        });
        return 'processed';
      } catch (error) {
        const next = await this.afterFailure(topic, partition, message, error, attempt);
        if (next !== 'retry') return next;
        await heartbeat();
        if (this.isStopping()) return 'paused';
      }
    }
  }

  /** Applies the failure policy to a failed attempt; on `retry`, the backoff has been waited out. */
  private async afterFailure(
    topic: string,
    partition: number,
    message: KafkaMessage,
    error: unknown,
    attempt: number,
  ): Promise<Outcome | 'retry'> {
    const { logger, retry } = this.options;
    const decision = decideOnFailure(error, attempt, retry);
    const where = { topic, partition, offset: message.offset, attempt, err: (error as Error).message };
    if (decision.action === 'pause') {
      logger.warn(where, 'store unavailable: pausing partition until it is back');
      return 'paused';
    }
    if (decision.action === 'dead-letter') {
      await this.deadLetter(topic, partition, message, decision.errorType, error, attempt);
      logger.error({ ...where, errorType: decision.errorType }, 'dead-lettered message');
      return 'processed';
    }
    logger.warn({ ...where, delayMs: decision.delayMs }, 'handler failed: retrying');
    await sleep(decision.delayMs);
    return 'retry';
  }

  /**
   * The dead-letter schema's id, registered once for all partitions: two first dead letters registering it at once
   * (partitions of one fetch) made the registry refuse one ("A rule named 'COMPATIBILITY' already exists"), and that
   * partition's batch, poison record included, ran again.
   */
  private deadLetterSchemaId(): Promise<number> {
    this.dlqSchemaId ??= this.options.registry
      .deadLetterSchemaId(deadLetterTopic(this.options.consumerGroup))
      .catch((error: unknown) => {
        this.dlqSchemaId = undefined;
        throw error;
      });
    return this.dlqSchemaId;
  }

  private dlqSchemaId: Promise<number> | undefined;

  private async deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    errorType: string,
    error: unknown,
    attempts: number,
  ): Promise<void> {
    const { consumerGroup, publisher, registry } = this.options;
    const dlq = deadLetterTopic(consumerGroup);
    const schemaId = await this.deadLetterSchemaId();
    const record = toDeadLetter({ message, topic, partition, consumerGroup, errorType, error, attempts });
    // Keyed like the original so one entity's dead letters stay in order for replay.
    await publisher.publishRaw(dlq, {
      key: message.key ?? null,
      value: await registry.encodeWithId(schemaId, record),
    });
  }
}
