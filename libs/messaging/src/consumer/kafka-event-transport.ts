import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TopicName } from '@tributary/contracts';
import type { Logger } from '@tributary/observability';
import type { AvroSchemaRegistry } from '../schema-registry';
import type { EventPublisher } from '../event-publisher';
import { ensureTopics } from '../kafka-connection';
import { BatchCalls } from './batch-calls';
import { CommitBatcher } from './commit-batcher';
import { ConsumerSpans } from './consumer-tracing';
import { deadLetterTopicSpec } from './dead-letter';
import type { RetrySettings } from './failure-policy';
import type { ToObservable } from './handlers';
import { PartitionRunner } from './partition-runner';
import { RecordProcessor } from './record-processor';
import { StorePauses } from './store-pause';

export { BatchEventPattern, MAX_HANDLER_BATCH } from './handlers';

/**
 * A fetch waits for this many bytes (about 30 tracking events) or FETCH_MAX_WAIT_MS. Answered as soon as one record
 * was there, fetches under a steady load brought a few records each, and every batch paid its store commands for
 * those few: under 200 track calls/s the lead service ran 22 batches a second, reporting 35 per topic.
 */
export const FETCH_MIN_BYTES = 16_384;
/** The most a record waits in the broker for a fuller fetch: the latency bought for fewer, larger batches. */
export const FETCH_MAX_WAIT_MS = 100;
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
  /**
   * Partitions processed in parallel per subscribed topic; order is kept within a partition (hence per entity key).
   */
  partitionsConcurrency: number;
  /** Bytes one fetch may bring per partition. */
  maxBytesPerPartition?: number;
  /** Bytes one fetch may bring in all (kafkajs' `maxBytes`). */
  maxBytes?: number;
  /** The broker holds a fetch until it has this many bytes, or `fetchMaxWaitMs` passed (see FETCH_MIN_BYTES). */
  fetchMinBytes?: number;
  fetchMaxWaitMs?: number;
  /** Resolves when the service's store answers again after an outage. */
  storeReady: () => Promise<boolean>;
}

/**
 * Nest transport strategy that feeds `@EventPattern(topic)` handlers from Kafka: Avro through the registry, retry →
 * dead-letter → pause per record, offsets committed after the handler. Why not Nest's ServerKafka, and how the parts
 * fit together: docs/architecture.md, "Consumer transport".
 */
export class KafkaEventTransport extends Server implements CustomTransportStrategy {
  private consumer?: Consumer;
  private stopping = false;
  private readonly isStopping = (): boolean => this.stopping;
  private readonly pauses: StorePauses;

  constructor(private readonly options: KafkaEventTransportOptions) {
    super();
    this.pauses = new StorePauses(options.storeReady, options.logger, this.isStopping);
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
    const consumer = kafka.consumer({
      groupId: consumerGroup,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      minBytes: this.options.fetchMinBytes ?? FETCH_MIN_BYTES,
      maxWaitTimeInMs: this.options.fetchMaxWaitMs ?? FETCH_MAX_WAIT_MS,
      ...(this.options.maxBytesPerPartition
        ? { maxBytesPerPartition: this.options.maxBytesPerPartition }
        : {}),
      ...(this.options.maxBytes ? { maxBytes: this.options.maxBytes } : {}),
    });
    this.consumer = consumer;
    await ensureTopics(
      this.options.admin,
      [deadLetterTopicSpec(consumerGroup)],
      this.options.replicationFactor,
    );
    const ready = assignedAndFetched(
      consumer,
      this.options.fromBeginning
        ? undefined
        : (assignment) =>
            this.pinStartOffsets(consumer, assignment).catch((error: unknown) =>
              // The next join tries again; until then a rebalance may start this group's partitions at the end.
              this.options.logger.warn({ err: error, consumerGroup }, 'start offsets not pinned'),
            ),
    );
    const runner = this.partitionRunner(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning });
    await consumer.run({
      // The runner commits, once for the partitions that finish together (CommitBatcher).
      autoCommit: false,
      eachBatchAutoResolve: false,
      // kafkajs fetches again only once every batch of a fetch was handled, by this many workers: per consumer, not
      // per topic. Reporting's 24 partitions with 6 workers went in four waves of calls, one after the other.
      partitionsConsumedConcurrently: partitionsConcurrency * topics.length,
      eachBatch: (payload) => runner.onBatch(payload),
    });
    // Events published from now on will be seen by this group.
    const timeout = new AbortController();
    await Promise.race([
      ready,
      sleep(30_000, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`consumer group ${consumerGroup} got no assignment and first fetch within 30 s`);
      }),
    ]).finally(() => timeout.abort());
    this.options.logger.info({ consumerGroup, topics }, 'consuming');
  }

  /**
   * A group starting at the end commits where it starts, at once, for each assigned partition it has no offset for.
   * Otherwise a rebalance (a second replica joining) resolves "the end" again for a partition that changed hands or
   * was re-assigned before its first commit, and what was published in between is skipped.
   */
  private async pinStartOffsets(consumer: Consumer, assignment: Record<string, number[]>): Promise<void> {
    const { admin, consumerGroup } = this.options;
    const topics = Object.keys(assignment);
    if (topics.length === 0) return;
    const committed = await admin.fetchOffsets({ groupId: consumerGroup, topics });
    const pins: { topic: string; partition: number; offset: string }[] = [];
    for (const { topic, partitions } of committed) {
      const unset = partitions.filter(
        (p) => p.offset === '-1' && (assignment[topic] ?? []).includes(p.partition),
      );
      if (unset.length === 0) continue;
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.offset]));
      for (const { partition } of unset) pins.push({ topic, partition, offset: ends.get(partition) ?? '0' });
    }
    if (pins.length > 0) await consumer.commitOffsets(pins);
  }

  private partitionRunner(consumer: Consumer): PartitionRunner {
    const { options, messageHandlers: handlers, isStopping } = this;
    const toObservable: ToObservable = (result) => this.transformToObservable(result);
    const spans = new ConsumerSpans(options.consumerGroup, options.service);
    return new PartitionRunner({
      consumer,
      handlers,
      batchCalls: new BatchCalls(options, handlers, toObservable, spans),
      records: new RecordProcessor(options, handlers, toObservable, spans, isStopping),
      pauses: this.pauses,
      commits: new CommitBatcher(),
      isStopping,
    });
  }

  /** Stops fetching, lets the in-flight batch finish and commit, then leaves the group. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect();
    await this.pauses.settled();
  }

  on(): never {
    throw new Error('KafkaEventTransport has no status events');
  }

  unwrap<T>(): T {
    if (!this.consumer) throw new Error('transport not started');
    return this.consumer as T;
  }
}

/**
 * Resolves once the consumer has its assignment AND has fetched once: kafkajs resolves a new group's start offsets
 * on that fetch, so an event published before it could be skipped by a group starting at the end. `onJoin` runs at
 * every join (its start offsets pinned before the consumer counts as ready); a failure is retried at the next join.
 */
function assignedAndFetched(
  consumer: Consumer,
  onJoin?: (assignment: Record<string, number[]>) => Promise<void>,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let assigned = false;
    let fetched = false;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const settle = (): void => {
        assigned = true;
        if (fetched) resolve();
      };
      if (!onJoin) return settle();
      onJoin(event.payload.memberAssignment).then(settle, () => settle());
    });
    consumer.on(consumer.events.FETCH, () => {
      fetched = true;
      if (assigned) resolve();
    });
  });
}
