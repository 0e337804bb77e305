import type { Kafka } from 'kafkajs';
import { uniqueId } from './test-env';

/** A record read back from a topic: raw key/value/headers plus where it was. */
export interface ReadRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  partition: number;
  offset: string;
}

/**
 * Reads a topic from the beginning with a throwaway consumer group until `done(records)` holds, then stops.
 * Fails after `timeoutMs` listing how many records it saw.
 */
export async function readTopicUntil(
  kafka: Kafka,
  topic: string,
  done: (records: ReadRecord[]) => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<ReadRecord[]> {
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
          eachMessage: async ({ message, partition }) => {
            const headers: Record<string, Buffer> = {};
            for (const [k, v] of Object.entries(message.headers ?? {})) {
              const first = Array.isArray(v) ? v[0] : v;
              if (first !== undefined) headers[k] = Buffer.isBuffer(first) ? first : Buffer.from(first);
            }
            records.push({
              key: message.key,
              value: message.value,
              headers,
              partition,
              offset: message.offset,
            });
            if (await done(records)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    return records;
  } finally {
    await consumer.disconnect();
  }
}
