import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
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

  /** One attempt at one record: a child of the producer's span. */
  record<T>(
    topic: string,
    partition: number,
    offset: string,
    attempt: number,
    parent: Context,
    work: () => Promise<T>,
  ): Promise<T> {
    return this.inSpan(topic, partition, parent, undefined, work, {
      'messaging.kafka.offset': Number(offset),
      'tributary.attempt': attempt,
    });
  }

  /** One batch handler call: a span has one parent, so it links to each record's producer context instead. */
  batch<T>(topic: string, partitions: number[], parents: Context[], work: () => Promise<T>): Promise<T> {
    const links = parents.flatMap((parent): Link[] => {
      const linked = trace.getSpanContext(parent);
      return linked ? [{ context: linked }] : [];
    });
    return this.inSpan(topic, partitions.join(','), context.active(), links, work, {
      'messaging.batch.message_count': parents.length,
    });
  }

  /** Runs `work` inside the span; a failure is recorded on the span and rethrown after it ended. */
  private async inSpan<T>(
    topic: string,
    partition: number | string,
    parent: Context,
    links: Link[] | undefined,
    work: () => Promise<T>,
    attributes: Attributes,
  ): Promise<T> {
    const span = tributaryTracer().startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        ...(links ? { links } : {}),
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': topic,
          'messaging.destination.partition.id': String(partition),
          'messaging.consumer.group.name': this.consumerGroup,
          'tributary.service': this.service,
          ...attributes,
        },
      },
      parent,
    );
    try {
      const result = await context.with(trace.setSpan(parent, span), work);
      span.end();
      return result;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      span.end();
      throw error;
    }
  }
}
