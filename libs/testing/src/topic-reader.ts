import type { Kafka } from 'kafkajs';
import { flattenHeaders } from '@tributary/messaging';
import { uniqueId } from './test-env';

/** A record read back from a topic: raw key/value/headers plus where it was. */
export interface ReadRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  partition: number;
  offset: string;
}

// When this test file loaded the harness: records a test waits for were written after it (minus clock slack).
const LOADED_AT = Date.now();

/** Offsets of the first records written at or after `timestamp`, per partition. */
async function offsetsSince(
  kafka: Kafka,
  topic: string,
  timestamp: number,
): Promise<{ partition: number; offset: string }[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads a topic with a throwaway consumer group until `done(records)` holds, then stops. It starts at the records
 * written since this test file loaded (`sinceTimestamp`), so a long-lived dev stack with a large topic does not
 * make the test read its whole history; pass 0 to read from the beginning. Fails after `timeoutMs` saying how many
 * records it saw.
 */
export async function readTopicUntil(
  kafka: Kafka,
  topic: string,
  done: (records: ReadRecord[]) => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  sinceTimestamp = LOADED_AT - 5_000,
): Promise<ReadRecord[]> {
  const start = sinceTimestamp > 0 ? await offsetsSince(kafka, topic, sinceTimestamp) : [];
  const consumer = kafka.consumer({ groupId: uniqueId('reader.'), allowAutoTopicCreation: false });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`read ${records.length} record(s) from ${topic} in ${timeoutMs} ms without a match`),
          ),
        timeoutMs,
      );
      consumer
        .run({
          // One check per fetched batch, not per record: on a long-lived dev stack a topic can hold many
          // thousands of records before the ones a test is waiting for.
          eachBatch: async ({ batch, resolveOffset }) => {
            for (const message of batch.messages) {
              records.push({
                key: message.key,
                value: message.value,
                headers: flattenHeaders(message.headers),
                partition: batch.partition,
                offset: message.offset,
              });
              resolveOffset(message.offset);
            }
            if (await done(records)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .then(() => {
          for (const { partition, offset } of start) consumer.seek({ topic, partition, offset });
        })
        .catch(reject);
    });
    return records;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Everything written to `topic` since `sinceTimestamp`, up to where each partition ends now: call it once the
 * service has been quiet for a while, to assert that something happened once (not merely at least once).
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  sinceTimestamp = LOADED_AT - 5_000,
  timeoutMs = 60_000,
): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const [ends, starts] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchTopicOffsetsByTimestamp(topic, sinceTimestamp),
  ]).finally(() => admin.disconnect());
  // A partition with nothing since then answers its end: nothing to wait for there.
  const startOf = new Map(starts.map((s) => [s.partition, Number(s.offset)]));
  const waiting = ends.filter((e) => Number(e.high) > (startOf.get(e.partition) ?? 0));
  if (waiting.length === 0) return [];
  return readTopicUntil(
    kafka,
    topic,
    (read) =>
      waiting.every((e) =>
        read.some((r) => r.partition === e.partition && Number(r.offset) >= Number(e.high) - 1),
      ),
    timeoutMs,
    sinceTimestamp,
  );
}
