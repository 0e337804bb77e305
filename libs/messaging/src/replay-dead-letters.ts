import type { Kafka } from 'kafkajs';
import type { DeadLetter } from '@tributary/contracts';
import { deadLetterTopic } from './consumer/dead-letter';
import type { AvroSchemaRegistry } from './schema-registry';
import { KeyHashPartitioner } from './key-partitioner';

export interface ReplayOptions {
  kafka: Kafka;
  registry: AvroSchemaRegistry;
  consumerGroup: string;
  /** Replay at most this many records (default: everything present when the replay starts). */
  limit?: number;
  /** Only report what would be replayed. */
  dryRun?: boolean;
  /**
   * Replay only the letters that failed for what they are (poison, undecodable), once a fix for them is deployed.
   * A normal replay passes over them, since the same bytes would fail the same way; each pass keeps its own place.
   */
  poison?: boolean;
  /** Called once with the number of records to replay, then after each one. */
  onProgress?: (done: number, total: number) => void;
}

export interface ReplayResult {
  replayed: number;
  skipped: number;
  /** Letters of the other pass's kind, left where they are (in a normal replay: the poison ones). */
  passedOver: number;
  byTopic: Record<string, number>;
}

/** Error types of letters that fail for what they are: replaying the same bytes cannot help. */
const NEVER_SUCCEEDS = new Set(['poison', 'decode']);

/** Header stamped on replayed records so their origin stays visible. */
export const REPLAYED_FROM_HEADER = 'tributary-replayed-from';

/**
 * Re-publishes a consumer group's dead letters to their source topics with the original key, value and headers.
 * Progress is committed under the `replay.<group>` consumer group (`replay-poison.<group>` for the poison pass), so
 * a second run does not replay the same record twice. Other groups on the source topic see the record again and drop it by eventId.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayResult> {
  const { kafka, registry, consumerGroup } = options;
  const topic = deadLetterTopic(consumerGroup);
  const poisonPass = options.poison === true;
  const replayGroup = `${poisonPass ? 'replay-poison' : 'replay'}.${consumerGroup}`;
  const admin = kafka.admin();
  await admin.connect();
  const result: ReplayResult = { replayed: 0, skipped: 0, passedOver: 0, byTopic: {} };
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId: replayGroup, topics: [topic] });
    const starts = new Map(
      (committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset) < 0 ? 0 : Number(p.offset)]),
    );
    const lows = new Map(ends.map((p) => [p.partition, Number(p.low)]));
    const highs = new Map(ends.map((p) => [p.partition, Number(p.high)]));
    let pending = 0;
    for (const [partition, high] of highs) {
      pending += Math.max(0, high - Math.max(starts.get(partition) ?? 0, lows.get(partition) ?? 0));
    }
    const total = Math.min(pending, options.limit ?? Number.POSITIVE_INFINITY);
    options.onProgress?.(0, total);
    if (total === 0) return result;

    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: KeyHashPartitioner,
    });
    const consumer = kafka.consumer({ groupId: replayGroup, allowAutoTopicCreation: false });
    await Promise.all([producer.connect(), consumer.connect()]);
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        let done = 0;
        consumer
          .run({
            autoCommit: true,
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
              for (const message of batch.messages) {
                if (done >= total) break;
                const high = highs.get(batch.partition) ?? 0;
                if (Number(message.offset) >= high) continue; // arrived after the replay started
                const letter = (await registry.decode(message.value)) as DeadLetter;
                if (NEVER_SUCCEEDS.has(letter.errorType) !== poisonPass) {
                  resolveOffset(message.offset);
                  result.passedOver += 1;
                } else if (!options.dryRun) {
                  await producer.send({
                    topic: letter.sourceTopic,
                    acks: -1,
                    messages: [
                      {
                        key: letter.originalKey,
                        value: letter.originalValue,
                        headers: {
                          ...letter.originalHeaders,
                          [REPLAYED_FROM_HEADER]: `${topic}@${batch.partition}:${message.offset}`,
                        },
                      },
                    ],
                  });
                  resolveOffset(message.offset);
                  result.replayed += 1;
                } else {
                  result.skipped += 1;
                }
                result.byTopic[letter.sourceTopic] = (result.byTopic[letter.sourceTopic] ?? 0) + 1;
                done += 1;
                options.onProgress?.(done, total);
                await heartbeat();
              }
              await commitOffsetsIfNecessary();
              if (done >= total) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}
