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
} from '@opentelemetry/api';
import { tributaryTracer } from '@tributary/observability';
import { headerGetter } from '../headers';

/** The producer's trace context carried in a record's headers. */
export function producerContext(headers: Record<string, Buffer>): Context {
  return propagation.extract(context.active(), headers, headerGetter);
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

  /** One batch handler call: a span has one parent, so it links to each record's producer context instead. */
  async batch<T>(
    topic: string,
    partitions: number[],
    parents: Context[],
    work: () => Promise<T>,
  ): Promise<T> {
    const links = parents.flatMap((parent): Link[] => {
      const linked = trace.getSpanContext(parent);
      return linked ? [{ context: linked }] : [];
    });
    return this.inSpan(topic, context.active(), links, work, {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': partitions.join(','),
      'messaging.consumer.group.name': this.consumerGroup,
      'tributary.service': this.service,
      'messaging.batch.message_count': parents.length,
    });
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
