import 'reflect-metadata';
import type { MessageHandler } from '@nestjs/microservices';
import { PATTERN_EXTRAS_METADATA } from '@nestjs/microservices/constants';
import type { TopicName } from '@tributary/contracts';
import {
  BatchEventPattern,
  chunkSizeOf,
  isBatchHandler,
  joinsPartitions,
  MAX_HANDLER_BATCH,
} from './handlers';

function handler(extras?: Record<string, unknown>): MessageHandler {
  const handle: MessageHandler = () => Promise.resolve(undefined);
  if (extras) handle.extras = extras;
  return handle;
}

class Handlers {
  @BatchEventPattern('orders' as TopicName)
  byDefault(): string {
    return 'default';
  }

  @BatchEventPattern('orders' as TopicName, { maxBatch: 10, acrossPartitions: true })
  joined(): string {
    return 'joined';
  }
}

const extrasOf = (method: () => string): unknown => Reflect.getMetadata(PATTERN_EXTRAS_METADATA, method);

describe('batch handler options', () => {
  it('BatchEventPattern marks the handler as a batch handler, by default of MAX_HANDLER_BATCH, per partition', () => {
    expect(extrasOf(Handlers.prototype.byDefault)).toEqual({
      batch: true,
      maxBatch: MAX_HANDLER_BATCH,
      acrossPartitions: false,
    });
    expect(extrasOf(Handlers.prototype.joined)).toEqual({
      batch: true,
      maxBatch: 10,
      acrossPartitions: true,
    });
  });

  it('gives an @EventPattern handler (or none) one record per call', () => {
    expect(chunkSizeOf(undefined)).toBe(1);
    expect(chunkSizeOf(handler())).toBe(1);
    expect(chunkSizeOf(handler({ maxBatch: 50 }))).toBe(1);
    expect(isBatchHandler(handler({ maxBatch: 50 }))).toBe(false);
  });

  it('gives a batch handler its maxBatch, whole and at least one, else one', () => {
    expect(chunkSizeOf(handler({ batch: true, maxBatch: 50 }))).toBe(50);
    expect(chunkSizeOf(handler({ batch: true, maxBatch: 2.7 }))).toBe(2);
    expect(chunkSizeOf(handler({ batch: true, maxBatch: 0 }))).toBe(1);
    expect(chunkSizeOf(handler({ batch: true, maxBatch: '50' }))).toBe(1);
  });

  it('joins partitions only for a batch handler that asks for it', () => {
    expect(joinsPartitions(handler({ batch: true, acrossPartitions: true }))).toBe(true);
    expect(joinsPartitions(handler({ batch: true, acrossPartitions: false }))).toBe(false);
    expect(joinsPartitions(handler({ acrossPartitions: true }))).toBe(false);
    expect(joinsPartitions(undefined)).toBe(false);
  });
});
