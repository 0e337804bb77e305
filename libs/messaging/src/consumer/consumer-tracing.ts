import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  TraceFlags,
} from '@opentelemetry/api';
import { tributaryTracer } from '@tributary/observability';
import type { IHeaders } from 'kafkajs';
import { flattenHeaders, headerGetter } from '../headers';

/** The producer's trace context carried in a record's headers. */
export function producerContext(headers: Record<string, Buffer>): Context {
  return propagation.extract(context.active(), headers, headerGetter);
}

/** A record of a batch call whose producer's trace is sampled, i.e. one an SRE can look its trace up by. */
export interface TracedRecord {
  parent: Context;
  producer: SpanContext;
  partition: number;
  offset: string;
}

/**
 * The record's sampled producer trace, if it has one. Only records with a `traceparent` header are parsed: the
 * propagators cost a batch more per record than its Avro decoding.
 */
export function tracedRecord(
  headers: IHeaders | undefined,
  partition: number,
  offset: string,
): TracedRecord | undefined {
  if (headers?.['traceparent'] === undefined) return undefined;
  const parent = producerContext(flattenHeaders(headers));
  const producer = trace.getSpanContext(parent);
  if (!producer || (producer.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return { parent, producer, partition, offset };
}

/** The one place consumer spans start: `process <topic>`, with the OpenTelemetry messaging attributes. */
export class ConsumerSpans {
  constructor(
    private readonly consumerGroup: string,
    private readonly service: string,
  ) {}

  /**
   * One attempt at one record: a child of the producer's span. Returns what `work` returns: a value `work` returned
   * at once needs no promise (the span has ended by then), a promise is awaited before the span ends.
   */
  record<T>(
    topic: string,
    partition: number,
    offset: string,
    attempt: number,
    parent: Context,
    work: () => T | Promise<T>,
  ): T | Promise<T> {
    // One object literal per record: spreading a shared base showed up in the profile.
    return this.inSpan(topic, parent, undefined, work, {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
      'messaging.consumer.group.name': this.consumerGroup,
      'tributary.service': this.service,
      'messaging.kafka.offset': Number(offset),
      'tributary.attempt': attempt,
    });
  }

  /**
   * One batch handler call: one span for the call, and every sampled record's trace reaches it. The call's span
   * continues the first traced record's trace (what the handler publishes is in it too) and links to every traced
   * record's producer; each other traced record gets a span of its own in its own trace, child of its producer and
   * linked to the call's span, spanning the call. Records without a sampled trace cost nothing here.
   */
  async batch<T>(
    topic: string,
    partitions: number[],
    count: number,
    traced: readonly TracedRecord[],
    work: () => Promise<T>,
  ): Promise<T> {
    const [first, ...others] = traced;
    const parent = first?.parent ?? context.active();
    const links = traced.map((record): Link => ({ context: record.producer }));
    const call = tributaryTracer().startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        links,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': topic,
          'messaging.destination.partition.id': partitions.join(','),
          'messaging.consumer.group.name': this.consumerGroup,
          'tributary.service': this.service,
          'messaging.batch.message_count': count,
        },
      },
      parent,
    );
    const recordSpans = others.map((record) =>
      tributaryTracer().startSpan(
        `process ${topic}`,
        {
          kind: SpanKind.CONSUMER,
          links: [{ context: call.spanContext() }],
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
            'messaging.destination.name': topic,
            'messaging.destination.partition.id': String(record.partition),
            'messaging.consumer.group.name': this.consumerGroup,
            'tributary.service': this.service,
            'messaging.kafka.offset': Number(record.offset),
            'tributary.attempt': 1,
          },
        },
        record.parent,
      ),
    );
    try {
      const result = await context.with(trace.setSpan(parent, call), work);
      for (const span of [call, ...recordSpans]) span.end();
      return result;
    } catch (error) {
      for (const span of [call, ...recordSpans]) failed(span, error);
      throw error;
    }
  }

  /** Runs `work` inside the span; a failure is recorded on the span and rethrown after it ended. */
  private inSpan<T>(
    topic: string,
    parent: Context,
    links: Link[] | undefined,
    work: () => T | Promise<T>,
    attributes: Attributes,
  ): T | Promise<T> {
    const span = tributaryTracer().startSpan(
      `process ${topic}`,
      { kind: SpanKind.CONSUMER, ...(links ? { links } : {}), attributes },
      parent,
    );
    let result: T | Promise<T>;
    try {
      result = context.with(trace.setSpan(parent, span), work);
    } catch (error) {
      failed(span, error);
      throw error;
    }
    if (!(result instanceof Promise)) {
      span.end();
      return result;
    }
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        failed(span, error);
        throw error;
      },
    );
  }
}

function failed(span: Span, error: unknown): void {
  span.recordException(error as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
  span.end();
}
