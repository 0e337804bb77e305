import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Kafka, Producer, Message } from 'kafkajs';
import type { TopicEvents, TopicName } from '@tributary/contracts';
import { tributaryTracer } from '@tributary/observability';
import type { AvroSchemaRegistry } from './schema-registry';
import { headerSetter, type HeaderMap } from './headers';
import { KeyHashPartitioner } from './key-partitioner';

/** One event to publish: its topic, partition key and typed payload. */
export interface OutgoingEvent<T extends TopicName = TopicName> {
  topic: T;
  key: string;
  event: TopicEvents[T];
  headers?: HeaderMap;
}

/** Records one grouped send holds at most: a bigger backlog goes out in the next request. */
const MAX_GROUPED_RECORDS = 10_000;

interface QueuedSend {
  topic: string;
  messages: Message[];
  timeoutMs: number | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The one producer of a service. Idempotent (acks=all, one in-flight request per broker keeps order under retries),
 * Avro-encodes through the registry and carries the W3C trace context in headers.
 */
export class EventPublisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly registry: AvroSchemaRegistry,
    private readonly service: string,
  ) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Kafka's key hashing, as kafkajs' default, without its per-byte allocations.
      createPartitioner: KeyHashPartitioner,
    });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }

  /** Publishes one event and resolves once every in-sync replica has it. */
  async publish<T extends TopicName>(outgoing: OutgoingEvent<T>): Promise<void> {
    await this.publishAll([outgoing]);
  }

  /** Publishes events in one producer batch (one request per broker), each under its own PRODUCER span. */
  async publishAll(events: readonly OutgoingEvent[]): Promise<void> {
    if (events.length === 0) return;
    const tracer = tributaryTracer();
    const spans = events.map((e) =>
      tracer.startSpan(`send ${e.topic}`, {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'send',
          'messaging.destination.name': e.topic,
          'messaging.kafka.message.key': e.key,
          'messaging.message.id': eventIdOf(e.event),
          'tributary.service': this.service,
        },
      }),
    );
    try {
      const byTopic = new Map<string, Message[]>();
      for (const [i, e] of events.entries()) {
        const headers: HeaderMap = { ...e.headers };
        const span = spans[i];
        if (span) propagation.inject(trace.setSpan(context.active(), span), headers, headerSetter);
        const value = await this.registry.encode(e.topic, e.event as TopicEvents[typeof e.topic]);
        const list = byTopic.get(e.topic) ?? [];
        list.push({ key: e.key, value, headers });
        byTopic.set(e.topic, list);
      }
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (error) {
      for (const span of spans) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      throw error;
    } finally {
      for (const span of spans) span.end();
    }
  }

  /**
   * Publishes records already encoded in the Confluent wire format (see AvroSchemaRegistry.encoderFor) to one topic
   * in one request, under one PRODUCER span whose context travels in each record's headers. `timeoutMs` bounds the
   * broker's ack wait for the request.
   */
  async publishEncoded(
    topic: TopicName,
    messages: readonly { key: string; value: Buffer; headers?: HeaderMap }[],
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    if (messages.length === 0) return;
    const span = tributaryTracer().startSpan(`send ${topic}`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': topic,
        'messaging.batch.message_count': messages.length,
        'tributary.service': this.service,
      },
    });
    try {
      const traceHeaders: HeaderMap = {};
      propagation.inject(trace.setSpan(context.active(), span), traceHeaders, headerSetter);
      await this.sendGrouped(
        topic,
        messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers, ...traceHeaders } })),
        options.timeoutMs,
      );
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  }

  private queued: QueuedSend[] = [];
  private sending: Promise<void> | undefined;

  /**
   * Group commit of encoded sends: the idempotent producer has one request in flight, so concurrent callers' sends
   * would each wait a round trip behind the one before. Sends queued while one is in flight go out together in the
   * next request (each caller still answered only after the broker acknowledged its records).
   */
  private sendGrouped(topic: string, messages: Message[], timeoutMs: number | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ topic, messages, timeoutMs, resolve, reject });
      this.startSending();
    });
  }

  private startSending(): void {
    if (this.sending) return;
    this.sending = this.sendQueued().finally(() => {
      this.sending = undefined;
      if (this.queued.length > 0) this.startSending();
    });
  }

  private async sendQueued(): Promise<void> {
    while (this.queued.length > 0) {
      const group: QueuedSend[] = [];
      let records = 0;
      while (this.queued.length > 0 && (group.length === 0 || records < MAX_GROUPED_RECORDS)) {
        const next = this.queued.shift() as QueuedSend;
        group.push(next);
        records += next.messages.length;
      }
      const byTopic = new Map<string, Message[]>();
      for (const send of group) {
        const messages = byTopic.get(send.topic);
        if (messages) messages.push(...send.messages);
        else byTopic.set(send.topic, [...send.messages]);
      }
      const timeouts = group.flatMap((send) => (send.timeoutMs === undefined ? [] : [send.timeoutMs]));
      try {
        await this.producer.sendBatch({
          acks: -1,
          ...(timeouts.length === 0 ? {} : { timeout: Math.min(...timeouts) }),
          topicMessages: [...byTopic].map(([t, m]) => ({ topic: t, messages: m })),
        });
        for (const send of group) send.resolve();
      } catch (error) {
        for (const send of group) send.reject(error);
      }
    }
  }

  /** Publishes already-encoded bytes as they are (dead letters, replays): no re-encoding, headers kept. */
  async publishRaw(
    topic: string,
    message: { key: Buffer | string | null; value: Buffer | null; headers?: HeaderMap },
  ): Promise<void> {
    await this.producer.send({ topic, acks: -1, messages: [message] });
  }
}

function eventIdOf(event: unknown): string {
  const metadata = (event as { metadata?: { eventId?: unknown } }).metadata;
  return typeof metadata?.eventId === 'string' ? metadata.eventId : '';
}
