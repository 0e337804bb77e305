import 'reflect-metadata';
import type { MessageHandler } from '@nestjs/microservices';
import { PATTERN_EXTRAS_METADATA } from '@nestjs/microservices/constants';
import type { TopicName } from '@tributary/contracts';
import { defer, delay, of, tap, type Observable } from 'rxjs';
import { KafkaEventContext } from './event-context';
import {
  BatchEventPattern,
  callHandler,
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

describe('callHandler', () => {
  const ctx = new KafkaEventContext([]);
  const asObservable = (result: unknown): Observable<unknown> => of(result);

  it('waits until an observable the handler returned (Nest interceptors) has completed', async () => {
    const steps: string[] = [];
    const interceptorResult = defer(() => of('done').pipe(delay(5))).pipe(tap(() => steps.push('completed')));
    const toObservable = jest.fn((result: unknown) => result as Observable<unknown>);
    await callHandler(() => Promise.resolve(interceptorResult), 'event', ctx, toObservable);
    expect(steps).toEqual(['completed']);
    expect(toObservable).toHaveBeenCalledTimes(1);
  });

  it('is done when the handler promise settles for a plain result, without going through RxJS', async () => {
    const toObservable = jest.fn(asObservable);
    const seen: unknown[] = [];
    const handle: MessageHandler = (input: unknown) => {
      seen.push(input);
      return Promise.resolve('value' as unknown as Observable<unknown>);
    };
    await expect(callHandler(handle, 'event', ctx, toObservable)).resolves.toBeUndefined();
    expect(seen).toEqual(['event']);
    expect(toObservable).not.toHaveBeenCalled();
  });

  it('rejects with the handler error, whether its promise rejects or its observable errors', async () => {
    const failure = new Error('handler failed');
    await expect(callHandler(() => Promise.reject(failure), 'e', ctx, asObservable)).rejects.toBe(failure);
    const failing = defer(() => Promise.reject(failure));
    await expect(
      callHandler(
        () => Promise.resolve(failing),
        'e',
        ctx,
        (result) => result as Observable<unknown>,
      ),
    ).rejects.toBe(failure);
  });
});
