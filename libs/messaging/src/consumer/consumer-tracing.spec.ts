import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTelemetry, stopTelemetry, tributaryTracer } from '@tributary/observability';
import { headerSetter, type HeaderMap } from '../headers';
import { ConsumerSpans, producerContext, tracedRecord } from './consumer-tracing';

const exporter = new InMemorySpanExporter();
const spans = new ConsumerSpans('group-a', 'svc-a');

beforeAll(() => startTelemetry({ serviceName: 'consumer-tracing-spec', exporter }));
afterAll(() => stopTelemetry());
afterEach(() => exporter.reset());

/** Record headers as a producer writes them: its span's W3C trace context. */
function producedHeaders(): { producer: Span; headers: Record<string, Buffer> } {
  const producer = tributaryTracer().startSpan('send');
  producer.end();
  const carrier: HeaderMap = {};
  propagation.inject(trace.setSpan(context.active(), producer), carrier, headerSetter);
  const headers: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(carrier)) headers[key] = Buffer.from(value);
  return { producer, headers };
}

/** The one finished span of that name. */
function finishedOnce(name: string): ReadableSpan | undefined {
  const named = exporter.getFinishedSpans().filter((span) => span.name === name);
  expect(named).toHaveLength(1);
  return named[0];
}

describe('ConsumerSpans (the consumer spans, with the producer context from the headers)', () => {
  it('makes an attempt at a record a child of the producer span, active while the handler runs', async () => {
    const { producer, headers } = producedHeaders();
    let activeInWork: string | undefined;
    const result = await spans.record('orders', 2, '41', 3, producerContext(headers), () => {
      activeInWork = trace.getActiveSpan()?.spanContext().spanId;
      return Promise.resolve('handled');
    });
    expect(result).toBe('handled');
    const span = finishedOnce('process orders');
    expect(span?.kind).toBe(SpanKind.CONSUMER);
    expect(span?.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(span?.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(activeInWork).toBe(span?.spanContext().spanId);
    expect(span?.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '2',
      'messaging.consumer.group.name': 'group-a',
      'tributary.service': 'svc-a',
      'messaging.kafka.offset': 41,
      'tributary.attempt': 3,
    });
    expect(span?.links).toEqual([]);
  });

  it('continues the first traced record’s trace in a batch call, and gives every other traced record its own span', async () => {
    const first = producedHeaders();
    const second = producedHeaders();
    const traced = [tracedRecord(first.headers, 0, '10'), tracedRecord(second.headers, 1, '20')].flatMap(
      (record) => (record ? [record] : []),
    );
    let activeInWork: string | undefined;
    await spans.batch('orders', [0, 1], 3, traced, () => {
      activeInWork = trace.getActiveSpan()?.spanContext().spanId;
      return Promise.resolve();
    });
    const finished = exporter.getFinishedSpans().filter((span) => span.name === 'process orders');
    expect(finished).toHaveLength(2);
    const call = finished.find((span) => span.attributes['messaging.batch.message_count'] === 3);
    const own = finished.find((span) => span !== call);
    // The call is in the first record's trace, active while the handler runs, and links to both producers.
    expect(call?.spanContext().traceId).toBe(first.producer.spanContext().traceId);
    expect(call?.parentSpanContext?.spanId).toBe(first.producer.spanContext().spanId);
    expect(activeInWork).toBe(call?.spanContext().spanId);
    expect(call?.links.map((link) => link.context.spanId)).toEqual([
      first.producer.spanContext().spanId,
      second.producer.spanContext().spanId,
    ]);
    expect(call?.attributes['messaging.destination.partition.id']).toBe('0,1');
    // The second record's trace reaches the call through a span of its own.
    expect(own?.spanContext().traceId).toBe(second.producer.spanContext().traceId);
    expect(own?.parentSpanContext?.spanId).toBe(second.producer.spanContext().spanId);
    expect(own?.links.map((link) => link.context.spanId)).toEqual([call?.spanContext().spanId]);
    expect(own?.attributes['messaging.kafka.offset']).toBe(20);
    expect(own?.attributes['messaging.destination.partition.id']).toBe('1');
  });

  it('traces only records whose producer trace is sampled', () => {
    const sampled = producedHeaders();
    const unsampled = {
      traceparent: Buffer.from(`00-${sampled.producer.spanContext().traceId}-${'1'.repeat(16)}-00`),
    };
    expect(tracedRecord(sampled.headers, 0, '1')?.producer.spanId).toBe(
      sampled.producer.spanContext().spanId,
    );
    expect(tracedRecord(unsampled, 0, '2')).toBeUndefined();
    expect(tracedRecord({}, 0, '3')).toBeUndefined();
    expect(tracedRecord(undefined, 0, '4')).toBeUndefined();
  });

  it('makes a batch call without traced records one root span, and marks every span of a failed call', async () => {
    await spans.batch('orders', [2], 5, [], () => Promise.resolve());
    const root = finishedOnce('process orders');
    expect(root?.parentSpanContext).toBeUndefined();
    expect(root?.links).toEqual([]);
    exporter.reset();

    const traced = [
      tracedRecord(producedHeaders().headers, 0, '1'),
      tracedRecord(producedHeaders().headers, 0, '2'),
    ];
    const failure = new Error('store said no');
    await expect(
      spans.batch(
        'orders',
        [0],
        2,
        traced.flatMap((record) => (record ? [record] : [])),
        () => Promise.reject(failure),
      ),
    ).rejects.toBe(failure);
    const failed = exporter.getFinishedSpans().filter((span) => span.name === 'process orders');
    expect(failed.map((span) => span.status)).toEqual([
      { code: SpanStatusCode.ERROR, message: 'store said no' },
      { code: SpanStatusCode.ERROR, message: 'store said no' },
    ]);
  });

  it('returns a value the work returned at once without a promise, the span already ended', () => {
    const { producer, headers } = producedHeaders();
    let activeInWork: string | undefined;
    const result = spans.record('orders', 1, '5', 1, producerContext(headers), () => {
      activeInWork = trace.getActiveSpan()?.spanContext().spanId;
      return 'sync';
    });
    expect(result).toBe('sync');
    const span = finishedOnce('process orders');
    expect(span?.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(activeInWork).toBe(span?.spanContext().spanId);
  });

  it('records an error the work threw synchronously, ends the span and rethrows it', () => {
    const failure = new Error('undecodable');
    expect(() =>
      spans.record('orders', 0, '8', 1, producerContext({}), () => {
        throw failure;
      }),
    ).toThrow(failure);
    const span = finishedOnce('process orders');
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'undecodable' });
  });

  it('records a failure on the span, ends it and rethrows the same error', async () => {
    const failure = new Error('store said no');
    await expect(
      spans.record('orders', 0, '7', 1, producerContext({}), () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    const span = finishedOnce('process orders');
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'store said no' });
    expect(span?.events.map((event) => event.name)).toEqual(['exception']);
  });
});
