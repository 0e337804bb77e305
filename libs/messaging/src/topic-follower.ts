import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '@tributary/observability';

export interface TopicFollowerOptions {
  kafka: Kafka;
  topic: string;
  /** What reads it (e.g. `credential-table.leads`): the start of the group id, for operators listing groups. */
  reader: string;
  logger: Logger;
  /** Applies one fetched batch; throwing makes kafkajs fetch it again. */
  onBatch: (payload: EachBatchPayload) => Promise<void>;
  /** Called once, when everything there was at start has been read. */
  onCaughtUp?: () => void;
  maxWaitTimeInMs?: number;
}

/**
 * One replica's own reading of a whole topic, every partition, e.g. to hold a table built from it: a consumer group
 * unique to this process and never committed (kafkajs has no assign(), and sharing a group would split the topic
 * between replicas). Caught up once it read up to the offsets it was given as the topic's end at start; it keeps
 * following afterwards.
 */
export class TopicFollower {
  readonly groupId: string;
  private consumer?: Consumer;
  // Per partition, the offset to reach before the reading is complete.
  private readonly pending = new Map<number, number>();
  private caughtUp = false;
  private crashed?: string;
  private markReady: () => void = () => undefined;
  private failReady: (error: Error) => void = () => undefined;
  private readonly ready = new Promise<void>((resolve, reject) => {
    this.markReady = resolve;
    this.failReady = reject;
  });

  constructor(private readonly options: TopicFollowerOptions) {
    this.groupId = `${options.reader}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`;
    // Awaited by waitUntilCaughtUp; a failure nobody waits for (never started) is not unhandled.
    this.ready.catch(() => undefined);
  }

  /**
   * Starts reading. `ends`: per partition, where the topic ended at start (partitions holding nothing left out).
   * `starts`: per partition, where to begin; without it the group begins at the topic's beginning.
   */
  async start(ends: ReadonlyMap<number, number>, starts?: ReadonlyMap<number, number>): Promise<void> {
    const { kafka, topic, logger } = this.options;
    for (const [partition, end] of ends) {
      if (end > (starts?.get(partition) ?? 0)) this.pending.set(partition, end);
    }
    const consumer = kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: this.options.maxWaitTimeInMs ?? 500,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ err: payload.error, restart: payload.restart, topic }, 'topic follower crashed');
      if (payload.restart) return;
      this.crashed = String(payload.error);
      // Start-up learns it at once rather than when its timeout runs out.
      this.failReady(new Error(`${topic} consumer stopped before catching up: ${this.crashed}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: starts === undefined });
    await consumer.run({ autoCommit: false, eachBatch: (payload) => this.onBatch(payload) });
    // A group of its own never commits, so every partition starts where seek puts it.
    for (const [partition, offset] of starts ?? [])
      consumer.seek({ topic, partition, offset: String(offset) });
    this.checkCaughtUp();
  }

  /** Resolves once caught up; rejects after `timeoutMs` saying how far it got, or at once when the consumer gave up. */
  async waitUntilCaughtUp(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const behind = [...this.pending].map(([p, offset]) => `partition ${p} below offset ${offset}`);
            reject(
              new Error(
                `${this.options.topic} not read up to start-up within ${timeoutMs} ms (${behind.join(', ')})`,
              ),
            );
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  isCaughtUp(): boolean {
    return this.caughtUp && this.crashed === undefined;
  }

  /** Why the consumer gave up, if it did. */
  get crashReason(): string | undefined {
    return this.crashed;
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    await this.options.onBatch(payload);
    const { batch } = payload;
    const target = this.pending.get(batch.partition);
    if (target !== undefined && (Number(batch.lastOffset()) + 1 >= target || batch.offsetLag() === '0')) {
      this.pending.delete(batch.partition);
      this.checkCaughtUp();
    }
  }

  private checkCaughtUp(): void {
    if (this.caughtUp || this.pending.size > 0) return;
    this.caughtUp = true;
    this.options.onCaughtUp?.();
    this.markReady();
  }
}
