import { EventPattern, type MessageHandler } from '@nestjs/microservices';
import type { KafkaMessage } from 'kafkajs';
import { isObservable, lastValueFrom, type Observable } from 'rxjs';
import type { TopicName } from '@tributary/contracts';
import type { ConsumedMessageInfo, KafkaEventContext } from './event-context';

/** Most records one batch handler call gets by default: bounds its store queries and the work a failure repeats. */
export const MAX_HANDLER_BATCH = 2_000;

/**
 * Like `@EventPattern(topic)`, but the handler gets the decoded records of one fetched partition batch (offset order,
 * at most `maxBatch`); a failed call is repeated record by record, so the handler must be idempotent per record.
 * See docs/architecture.md, "Batch handlers".
 */
export const BatchEventPattern = (
  topic: TopicName,
  options: { maxBatch?: number; acrossPartitions?: boolean } = {},
): MethodDecorator =>
  EventPattern(topic, {
    batch: true,
    maxBatch: options.maxBatch ?? MAX_HANDLER_BATCH,
    acrossPartitions: options.acrossPartitions ?? false,
  });

export function isBatchHandler(handler: MessageHandler | undefined): boolean {
  return handler?.extras?.['batch'] === true;
}

/** Whether a batch handler takes the chunks of several partitions of one fetch in one call (`acrossPartitions`). */
export function joinsPartitions(handler: MessageHandler | undefined): boolean {
  return isBatchHandler(handler) && handler?.extras?.['acrossPartitions'] === true;
}

/** Records per call: a batch handler's `maxBatch`, else one. */
export function chunkSizeOf(handler: MessageHandler | undefined): number {
  const max: unknown = handler?.extras?.['maxBatch'];
  return isBatchHandler(handler) && typeof max === 'number' && max >= 1 ? Math.floor(max) : 1;
}

/** Nest's `Server.transformToObservable`: whatever a handler returned (value, promise, observable) as an observable. */
export type ToObservable = (result: unknown) => Observable<unknown>;

/**
 * Calls a handler and waits until what it returned has completed. Only an observable (what Nest's interceptor chain
 * returns) goes through RxJS; a plain result is done once the handler's promise settled, as `of(value)` would be.
 */
export function callHandler(
  handler: MessageHandler,
  input: unknown,
  ctx: KafkaEventContext,
  toObservable: ToObservable,
): Promise<void> {
  // Promise.resolve adopts the handler's own promise (no extra one) and also covers a handler that returns a value.
  return Promise.resolve(handler(input, ctx) as unknown).then((result) =>
    isObservable(result)
      ? lastValueFrom(toObservable(result), { defaultValue: undefined }).then(() => undefined)
      : undefined,
  );
}

/** Where a record came from, as handlers see it through `@Ctx()`. */
export function consumedInfo(
  topic: string,
  partition: number,
  message: KafkaMessage,
  headers: Record<string, Buffer>,
  consumerGroup: string,
  attempt: number,
): ConsumedMessageInfo {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    headers,
    consumerGroup,
    attempt,
  };
}
