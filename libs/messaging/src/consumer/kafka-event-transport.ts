import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import {
  EventPattern,
  Server,
  type CustomTransportStrategy,
  type MessageHandler,
} from '@nestjs/microservices';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { lastValueFrom } from 'rxjs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TopicName } from '@tributary/contracts';
import { tributaryTracer, type Logger } from '@tributary/observability';
import type { AvroSchemaRegistry } from '../schema-registry';
import type { EventPublisher } from '../event-publisher';
import { flattenHeaders, headerGetter } from '../headers';
import { decideOnFailure, type RetrySettings } from './failure-policy';
import { deadLetterTopic, deadLetterTopicSpec, toDeadLetter } from './dead-letter';
import { ensureTopics } from '../kafka-connection';
import { KafkaEventContext, type ConsumedMessageInfo } from './event-context';

export interface KafkaEventTransportOptions {
  kafka: Kafka;
  admin: Admin;
  replicationFactor: number;
  registry: AvroSchemaRegistry;
  publisher: EventPublisher;
  consumerGroup: string;
  /** Where a brand-new group starts reading: the oldest retained record, or only new ones. */
  fromBeginning: boolean;
  service: string;
  logger: Logger;
  retry: RetrySettings;
  /** Partitions processed in parallel; order is kept within a partition (hence per entity key). */
  partitionsConcurrency: number;
  /** Bytes one fetch may bring per partition. */
  maxBytesPerPartition?: number;
  /** Resolves when the service's store answers again after an outage. */
  storeReady: () => Promise<boolean>;
}

type Outcome = 'processed' | 'paused';

/** One partition's records for a batch handler call, decoded, with each record's context and producer span. */
interface Chunk {
  partition: number;
  messages: KafkaMessage[];
  events: unknown[];
  infos: { info: ConsumedMessageInfo; parent: ReturnType<typeof propagation.extract> }[];
}

/** A batch handler call that takes the chunks of several partitions; `result` settles after the call. */
interface JoinedCall {
  chunks: Chunk[];
  records: number;
  result: Promise<boolean>;
}

/** Most records one batch handler call gets by default: bounds its store queries and the work a failure repeats. */
export const MAX_HANDLER_BATCH = 2_000;

/** How long one partition's fetched batch may keep a batch handler busy before the rest waits for the next fetch. */
const BATCH_TIME_BUDGET_MS = 5_000;

/** How often the transport heartbeats while a batch handler runs, well inside the 30 s session timeout. */
const BATCH_HEARTBEAT_MS = 3_000;

/**
 * Like `@EventPattern(topic)`, but the handler gets an array: the decoded records of one fetched batch of one
 * partition (in offset order, at most `maxBatch`), with a context listing each record. Lets a handler read and write
 * the store once per batch instead of once per record. When a call fails, the transport calls it again with one
 * record at a time, so retries, dead letters and store-outage pauses work per record as usual; the handler must
 * therefore be idempotent per record, as every handler here already is (at-least-once). Pick `maxBatch` so that one
 * call stays short: offsets are committed after it, and a failure repeats it.
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

/**
 * Whether a batch handler takes the chunks of several partitions in one call (`acrossPartitions`): those a fetch
 * hands over at once, up to `maxBatch` records. For small steady batches whose cost is mostly per call (store round
 * trips), e.g. captured leads: six partitions' chunks of 10 cost one call's commands, not six.
 */
function joinsPartitions(handler: MessageHandler | undefined): boolean {
  return isBatchHandler(handler) && handler?.extras?.['acrossPartitions'] === true;
}

function isBatchHandler(handler: MessageHandler | undefined): boolean {
  return handler?.extras?.['batch'] === true;
}

/** Records per call: a batch handler's `maxBatch`, else one. */
function chunkSizeOf(handler: MessageHandler | undefined): number {
  const max: unknown = handler?.extras?.['maxBatch'];
  return isBatchHandler(handler) && typeof max === 'number' && max >= 1 ? Math.floor(max) : 1;
}

/**
 * Nest transport strategy that feeds `@EventPattern(topic)` handlers from Kafka.
 *
 * Why not @nestjs/microservices' ServerKafka: it consumes through kafkajs `eachMessage` with JSON (de)serializers
 * and commits as it goes. We need Avro through the registry, a retry → dead-letter → pause decision per message,
 * offsets committed only after the handler finished, and batch-level work (one heartbeat and one commit per batch
 * rather than per message). `eachBatch` with manual `resolveOffset` gives all of that; `npm run bench:consumer`
 * measures its throughput against a bare kafkajs consumer on the same topic.
 */
export class KafkaEventTransport extends Server implements CustomTransportStrategy {
  private consumer?: Consumer;
  private stopping = false;
  private readonly pausedProbes = new Set<Promise<void>>();
  /** The commit the batches ending in this turn of the event loop share (see `commitResolved`). */
  private commit: Promise<void> | undefined;
  /** Per topic, the joined call still taking chunks (see `joinCall`). */
  private readonly joining = new Map<string, JoinedCall>();

  constructor(private readonly options: KafkaEventTransportOptions) {
    super();
  }

  /** Topics this transport consumes: the patterns of the registered handlers. */
  subscribedTopics(): TopicName[] {
    return [...this.messageHandlers.keys()] as TopicName[];
  }

  listen(callback: (...optionalParams: unknown[]) => void): void {
    this.start().then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  private async start(): Promise<void> {
    const topics = this.subscribedTopics();
    if (topics.length === 0) return;
    const { kafka, consumerGroup, partitionsConcurrency } = this.options;
    this.consumer = kafka.consumer({
      groupId: consumerGroup,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 250,
      ...(this.options.maxBytesPerPartition
        ? { maxBytesPerPartition: this.options.maxBytesPerPartition }
        : {}),
    });
    await ensureTopics(
      this.options.admin,
      [deadLetterTopicSpec(consumerGroup)],
      this.options.replicationFactor,
    );
    // Ready = assigned AND the first fetch done: kafkajs resolves a new group's start offsets (e.g. "latest") on
    // that fetch, so an event published before it could otherwise be skipped by a group starting at the end.
    const joined = new Promise<void>((resolve) => {
      const consumer = this.consumer;
      let assigned = false;
      consumer?.on(consumer.events.GROUP_JOIN, () => {
        assigned = true;
      });
      consumer?.on(consumer.events.FETCH, () => {
        if (assigned) resolve();
      });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning });
    await this.consumer.run({
      // Committed by `commitResolved`, once for the partitions that finish together.
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitionsConcurrency,
      eachBatch: (payload) => this.onBatch(payload),
    });
    // Events published from now on will be seen by this group.
    const timeout = new AbortController();
    await Promise.race([
      joined,
      sleep(30_000, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`consumer group ${consumerGroup} got no assignment and first fetch within 30 s`);
      }),
    ]).finally(() => timeout.abort());
    this.options.logger.info({ consumerGroup, topics }, 'consuming');
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    try {
      await this.consumeBatch(payload);
    } catch (error) {
      // What was processed before the failure (e.g. a heartbeat that saw a rebalance) is committed first, as kafkajs'
      // auto-commit did: the partition's next owner must not process it again.
      await this.commitResolved(payload).catch(() => undefined);
      throw error;
    }
    await this.commitResolved(payload);
  }

  /** A partition's fetched batch, chunk by chunk or record by record; resolves the offset of each record handled. */
  private async consumeBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, pause } = payload;
    const chunkSize = chunkSizeOf(this.messageHandlers.get(batch.topic));
    const startedAt = Date.now();
    let sinceHeartbeat = 0;
    let lastHeartbeat = Date.now();
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (!isRunning() || isStale() || this.stopping) break;
      // Leave the rest of a slow partition's batch to the next fetch (it starts after the last resolved offset), so
      // the other partitions of this fetch, e.g. another topic's, are not held up for minutes behind it.
      if (chunkSize > 1 && start > 0 && Date.now() - startedAt > BATCH_TIME_BUDGET_MS) break;
      const chunk = batch.messages.slice(start, start + chunkSize);
      const last = chunk[chunk.length - 1];
      if (
        chunk.length > 1 &&
        last &&
        (await this.processChunk(batch.topic, batch.partition, chunk, heartbeat))
      ) {
        resolveOffset(last.offset);
        await heartbeat();
        lastHeartbeat = Date.now();
        continue;
      }
      let paused = false;
      for (const message of chunk) {
        if (!isRunning() || isStale() || this.stopping) {
          paused = true;
          break;
        }
        const outcome = await this.process(batch.topic, batch.partition, message, heartbeat);
        if (outcome === 'paused') {
          // Rewind to the message that could not be applied, then wait for the store; nothing after it is committed.
          this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: message.offset });
          const resume = pause();
          this.resumeWhenStoreIsBack(batch.topic, batch.partition, resume);
          paused = true;
          break;
        }
        resolveOffset(message.offset);
        // kafkajs throttles heartbeats itself, but each call is still an await; a slow handler is covered by the
        // time check, a fast batch by the count.
        if (++sinceHeartbeat >= 100 || Date.now() - lastHeartbeat > 1_000) {
          await heartbeat();
          sinceHeartbeat = 0;
          lastHeartbeat = Date.now();
        }
      }
      if (paused) break;
    }
  }

  /**
   * Commits the offsets resolved so far, in one request for all the partitions whose batches end in the same turn of
   * the event loop. kafkajs' auto-commit sent one request per partition's batch, and the coordinator answers a
   * connection's requests one after another: six commits of ~5 ms each before every fetch of six partitions.
   */
  private commitResolved(payload: EachBatchPayload): Promise<void> {
    this.commit ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        this.commit = undefined;
        const offsets = payload.uncommittedOffsets();
        if (offsets.topics.length === 0) resolve();
        else payload.commitOffsetsIfNecessary(offsets).then(resolve, reject);
      }),
    );
    return this.commit;
  }

  /**
   * One call of a batch handler with a chunk of records (possibly joined with other partitions' chunks, see
   * `joinsPartitions`); false (nothing applied for sure) when a record does not decode or the call fails, and the
   * caller then goes record by record.
   */
  private async processChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    const handler = this.messageHandlers.get(topic);
    if (!handler) return false;
    // A long call must not look like a dead consumer: the group would evict it and hand the batch to another.
    const beat = setInterval(() => void heartbeat().catch(() => undefined), BATCH_HEARTBEAT_MS);
    try {
      let events: unknown[];
      try {
        events = await Promise.all(messages.map((message) => this.options.registry.decode(message.value)));
      } catch (error) {
        this.logChunkFailure(topic, [partition], messages, error);
        return false;
      }
      const chunk: Chunk = {
        partition,
        messages,
        events,
        infos: messages.map((message) => {
          const headers = flattenHeaders(message.headers);
          return {
            info: this.consumedInfo(topic, partition, message, headers, 1),
            parent: propagation.extract(context.active(), headers, headerGetter),
          };
        }),
      };
      return await (joinsPartitions(handler)
        ? this.joinCall(topic, handler, chunk)
        : this.callBatchHandler(topic, handler, [chunk]));
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Adds a chunk to the call its topic's handler gets once the chunks of this fetch are all in (the next turn of the
   * event loop: kafkajs hands a fetch's partitions to its workers at once), or a new call when that one is full.
   */
  private joinCall(topic: string, handler: MessageHandler, chunk: Chunk): Promise<boolean> {
    let call = this.joining.get(topic);
    if (call && call.records + chunk.messages.length > chunkSizeOf(handler)) {
      this.joining.delete(topic);
      call = undefined;
    }
    if (!call) {
      const chunks: Chunk[] = [];
      const started: JoinedCall = {
        chunks,
        records: 0,
        result: new Promise<boolean>((resolve) =>
          setImmediate(() => {
            if (this.joining.get(topic) === started) this.joining.delete(topic);
            resolve(this.callBatchHandler(topic, handler, chunks));
          }),
        ),
      };
      this.joining.set(topic, started);
      call = started;
    }
    call.chunks.push(chunk);
    call.records += chunk.messages.length;
    return call.result;
  }

  /** Calls a batch handler once with the records of `chunks`, in partition order; true when it succeeded. */
  private async callBatchHandler(topic: string, handler: MessageHandler, chunks: Chunk[]): Promise<boolean> {
    const partitions = chunks.map((chunk) => chunk.partition);
    const infos = chunks.flatMap((chunk) => chunk.infos);
    // One span for the call, linked to each record's producer context (a span has one parent).
    const span = tributaryTracer().startSpan(`process ${topic}`, {
      kind: SpanKind.CONSUMER,
      links: infos.flatMap(({ parent }) => {
        const linked = trace.getSpanContext(parent);
        return linked ? [{ context: linked }] : [];
      }),
      attributes: {
        ...this.spanAttributes(topic, partitions.join(',')),
        'messaging.batch.message_count': infos.length,
      },
    });
    try {
      await context.with(trace.setSpan(context.active(), span), async () => {
        const ctx = new KafkaEventContext(infos.map(({ info }) => info));
        const events = chunks.flatMap((chunk) => chunk.events);
        await lastValueFrom(this.transformToObservable(await handler(events, ctx)), {
          defaultValue: undefined,
        });
      });
      span.end();
      return true;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      span.end();
      this.logChunkFailure(
        topic,
        partitions,
        chunks.flatMap((chunk) => chunk.messages),
        error,
      );
      return false;
    }
  }

  private logChunkFailure(
    topic: string,
    partitions: number[],
    messages: KafkaMessage[],
    error: unknown,
  ): void {
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

  private async process(
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<Outcome> {
    const { registry, logger, retry } = this.options;
    const headers = flattenHeaders(message.headers);
    const parent = propagation.extract(context.active(), headers, headerGetter);
    // Our patterns are plain topic names, i.e. already routes: a direct lookup skips Nest's per-call
    // JSON.parse attempt in getHandlerByPattern, which dominated the per-message cost in profiles.
    const handler = this.messageHandlers.get(topic);
    for (let attempt = 1; ; attempt++) {
      const span = tributaryTracer().startSpan(
        `process ${topic}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            ...this.spanAttributes(topic, partition),
            'messaging.kafka.offset': Number(message.offset),
            'tributary.attempt': attempt,
          },
        },
        parent,
      );
      try {
        await context.with(trace.setSpan(parent, span), async () => {
          const event = await registry.decode(message.value);
          if (!handler) throw new Error(`no handler for ${topic}`);
          const ctx = new KafkaEventContext([this.consumedInfo(topic, partition, message, headers, attempt)]);
          const input = isBatchHandler(handler) ? [event] : event;
          await lastValueFrom(this.transformToObservable(await handler(input, ctx)), {
            defaultValue: undefined,
          });
        });
        span.end();
        return 'processed';
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        span.end();
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
        await heartbeat();
        if (this.stopping) return 'paused';
      }
    }
  }

  /** Where a record came from, as handlers see it through `@Ctx()`. */
  private consumedInfo(
    topic: string,
    partition: number,
    message: KafkaMessage,
    headers: Record<string, Buffer>,
    attempt: number,
  ): ConsumedMessageInfo {
    return {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString() ?? null,
      headers,
      consumerGroup: this.options.consumerGroup,
      attempt,
    };
  }

  /** The attributes every consumer span carries (OpenTelemetry messaging conventions). */
  private spanAttributes(topic: string, partition: number | string): Attributes {
    return {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
      'messaging.consumer.group.name': this.options.consumerGroup,
      'tributary.service': this.options.service,
    };
  }

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
    const schemaId = await registry.deadLetterSchemaId(dlq);
    const record = toDeadLetter({ message, topic, partition, consumerGroup, errorType, error, attempts });
    // Keyed like the original so one entity's dead letters stay in order for replay.
    await publisher.publishRaw(dlq, {
      key: message.key ?? null,
      value: await registry.encodeWithId(schemaId, record),
    });
  }

  private resumeWhenStoreIsBack(topic: string, partition: number, resume: () => void): void {
    const probe = (async () => {
      while (!this.stopping) {
        await sleep(1_000);
        if (await this.options.storeReady().catch(() => false)) {
          this.options.logger.info({ topic, partition }, 'store is back: resuming partition');
          resume();
          return;
        }
      }
    })();
    this.pausedProbes.add(probe);
    void probe.finally(() => this.pausedProbes.delete(probe));
  }

  /** Stops fetching, lets the in-flight batch finish and commit, then leaves the group. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
    await Promise.allSettled([...this.pausedProbes]);
  }

  on(): never {
    throw new Error('KafkaEventTransport has no status events');
  }

  unwrap<T>(): T {
    if (!this.consumer) throw new Error('transport not started');
    return this.consumer as T;
  }
}
