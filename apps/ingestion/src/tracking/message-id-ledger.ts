import { randomUUID } from 'node:crypto';
import type { Admin, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Catalog, Topics, type TrackingCallsStored } from '@tributary/contracts';
import {
  type AvroSchemaRegistry,
  ensureTopics,
  type EventPublisher,
  offsetsHoldingNewest,
  TopicFollower,
  UndecodableMessageError,
} from '@tributary/messaging';
import type { Logger } from '@tributary/observability';
import { StoredEventIds, type DedupeDecision } from './stored-event-ids';

const TOPIC = Topics.TrackingCallsStored;
/** Header naming the replica that announced a record: it already holds those ids and skips them when they come back. */
const REPLICA_HEADER = 'tributary-replica';
/** Header with the number of ids a record holds: start-up weighs the newest records without decoding them. */
const IDS_HEADER = 'tributary-ids';

export interface MessageIdLedgerOptions {
  kafka: Kafka;
  /** A connected admin client (topic creation and start-up offsets). */
  admin: Admin;
  registry: AvroSchemaRegistry;
  publisher: EventPublisher;
  logger: Logger;
  windowMs: number;
  /** Ids one replica remembers at most; beyond it the oldest go early (the window shrinks, with a warning). */
  maxIds: number;
  replicationFactor: number;
  now?: () => number;
}

/**
 * The edge's messageId dedupe window, off the request's store round trips. Every replica holds the eventIds stored
 * within the window in memory (StoredEventIds) and decides with no I/O. What it stores, it announces on
 * `tracking.calls-stored` after Kafka acknowledged the events; every replica follows that topic, so a retry reaching
 * another replica is a duplicate there too once the announcement arrived (within moments; in that gap it is produced
 * again and absorbed downstream by its deterministic eventId, as a retry racing its first attempt always was). At
 * start a replica reads the window back from the topic before it takes calls, so a restart keeps the window.
 *
 * A crash between Kafka's ack and the announcement loses those ids' window: the retry is produced again with the same
 * eventId, which consumers dedupe.
 */
export class MessageIdLedger {
  readonly ids: StoredEventIds;
  private readonly follower: TopicFollower;
  private compactor?: NodeJS.Timeout;
  private encodeRecord?: (record: TrackingCallsStored) => Buffer;
  private readonly announcing = new Set<Promise<void>>();
  private unannounced = 0;
  private readonly now: () => number;
  private readBack = { records: 0, ids: 0 };

  constructor(private readonly options: MessageIdLedgerOptions) {
    this.now = options.now ?? Date.now;
    this.ids = new StoredEventIds(options.windowMs, options.maxIds);
    this.follower = new TopicFollower({
      kafka: options.kafka,
      topic: TOPIC,
      reader: 'message-id-ledger',
      logger: options.logger,
      onBatch: (payload) => this.onBatch(payload),
      maxWaitTimeInMs: 100,
    });
  }

  /** This replica's consumer group: also the name its announcements carry, so it skips them when they come back. */
  get groupId(): string {
    return this.follower.groupId;
  }

  /**
   * Reads the window back from `tracking.calls-stored` and keeps following it; resolves once everything announced
   * before start-up is in, or rejects after `timeoutMs` saying how far it got. Each partition is read from where the
   * topic's newest maxIds ids begin (found by reading back from the partitions' ends) or the window's start,
   * whichever is later: the ids a full table would evict at once are never read.
   */
  async start(timeoutMs: number): Promise<{ records: number; ids: number; ms: number }> {
    const started = performance.now();
    const { admin, replicationFactor, windowMs, maxIds } = this.options;
    await ensureTopics(admin, [Catalog[TOPIC]], replicationFactor);
    this.encodeRecord = this.options.registry.encoderFor(TOPIC);
    const topicEnds = await admin.fetchTopicOffsets(TOPIC);
    const fromWindow = await admin.fetchTopicOffsetsByTimestamp(TOPIC, this.now() - windowMs);
    const ranges = new Map<number, { from: number; to: number }>();
    const ends = new Map<number, number>();
    for (const { partition, high, low } of topicEnds) {
      const byTime = Number(fromWindow.find((o) => o.partition === partition)?.offset ?? -1);
      const end = Number(high);
      // -1: nothing at or after the window's start in this partition.
      ranges.set(partition, { from: Math.max(byTime < 0 ? end : byTime, Number(low)), to: end });
      ends.set(partition, end);
    }
    const starts = await offsetsHoldingNewest({
      kafka: this.options.kafka,
      topic: TOPIC,
      reader: 'message-id-ledger.history',
      logger: this.options.logger,
      ranges,
      weigh: async (message, partition) => {
        const ids = Number(message.headers?.[IDS_HEADER]?.toString());
        return Number.isInteger(ids)
          ? ids
          : ((await this.decodeRecord(message, partition))?.eventIds.length ?? 0);
      },
      wanted: maxIds,
      timeoutMs,
    });
    await this.follower.start(ends, starts);
    await this.follower.waitUntilCaughtUp(Math.max(1, timeoutMs - (performance.now() - started)));
    // Expired ids stop counting at once, and leave memory as new ones come; this also reports evictions.
    const every = Math.min(3_600_000, Math.max(60_000, windowMs / 8));
    this.compactor = setInterval(() => this.compact(), every);
    this.compactor.unref();
    return { ...this.readBack, ms: Math.round(performance.now() - started) };
  }

  /** New or duplicate, for each eventId in input order: no I/O. */
  decide(eventIds: readonly string[]): DedupeDecision[] {
    return this.ids.decide(eventIds, this.now());
  }

  /** Ids stored on Kafka whose announcement is not acknowledged yet. */
  get backlog(): number {
    return this.unannounced;
  }

  /**
   * Remembers eventIds Kafka acknowledged, at once (a retry to this replica is a duplicate from now on), and
   * announces them to every replica; resolves once the announcement is acknowledged.
   */
  async recordStored(workspaceId: string, eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    if (!this.encodeRecord) throw new Error('message-id ledger used before start');
    const storedAt = this.now();
    for (const id of eventIds) this.ids.add(id, storedAt, storedAt);
    const eventId = randomUUID();
    const value = this.encodeRecord({
      metadata: {
        eventId,
        occurredAt: storedAt,
        workspaceId,
        source: 'ingestion',
        correlationId: eventId,
        causationId: null,
      },
      eventIds: [...eventIds],
      storedAt,
    });
    this.unannounced += eventIds.length;
    const announced = this.options.publisher
      .publishEncoded(TOPIC, [
        {
          key: workspaceId,
          value,
          headers: { [REPLICA_HEADER]: this.groupId, [IDS_HEADER]: String(eventIds.length) },
        },
      ])
      .finally(() => {
        this.unannounced -= eventIds.length;
        this.announcing.delete(announced);
      });
    this.announcing.add(announced);
    await announced;
  }

  /** Resolves once every announcement so far is acknowledged or failed: before the service stops. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.announcing]);
  }

  async stop(): Promise<void> {
    clearInterval(this.compactor);
    await this.follower.stop();
  }

  /** Drops expired ids; warns when the table was full and the window reaches back less far than configured. */
  compact(): void {
    const outcome = this.ids.compact(this.now());
    if (outcome.evicted > 0) {
      this.options.logger.warn(
        {
          evicted: outcome.evicted,
          windowStartsAt: new Date(outcome.oldestKeptAt ?? this.now()).toISOString(),
          maxIds: this.options.maxIds,
        },
        'messageId dedupe window shortened: more ids than TRACKING_DEDUPE_MAX_IDS; consumers still dedupe by eventId',
      );
    }
  }

  private async onBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    const now = this.now();
    for (const message of batch.messages) {
      if (this.follower.isCaughtUp() && message.headers?.[REPLICA_HEADER]?.toString() === this.groupId)
        continue;
      const record = await this.decodeRecord(message, batch.partition);
      if (!record) continue;
      for (const id of record.eventIds) this.ids.add(id, record.storedAt, now);
      this.readBack.records += 1;
      this.readBack.ids += record.eventIds.length;
    }
    await heartbeat();
  }

  /** A ledger record, or undefined (with a warning) for bytes that never decode; a registry outage throws. */
  private async decodeRecord(
    message: KafkaMessage,
    partition: number,
  ): Promise<TrackingCallsStored | undefined> {
    try {
      const cached = this.options.registry.decodeCached(message.value);
      return (
        cached ? cached.value : await this.options.registry.decode(message.value)
      ) as TrackingCallsStored;
    } catch (error) {
      if (!(error instanceof UndecodableMessageError)) throw error;
      this.options.logger.warn(
        { offset: message.offset, partition, err: error },
        'undecodable message-id ledger record',
      );
      return undefined;
    }
  }
}
