import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from '@tributary/observability';

export interface NewestRecordsOptions {
  kafka: Kafka;
  topic: string;
  /** What reads (e.g. `message-id-ledger.history`): the start of the throwaway group's id. */
  reader: string;
  logger: Logger;
  /** Per partition, the offsets to look in: from `from` (inclusive) to `to` (exclusive, e.g. the end at start). */
  ranges: ReadonlyMap<number, { from: number; to: number }>;
  /** How much one record counts for (e.g. the ids it holds). */
  weigh: (message: KafkaMessage, partition: number) => number | Promise<number>;
  /** What the newest records, across the partitions, must add up to. */
  wanted: number;
  timeoutMs: number;
  /** Records in the first chunk read back from the end; each further chunk is twice the one before. */
  firstChunk?: number;
}

interface PartitionScan {
  from: number;
  chunkStart: number;
  chunkEnd: number;
  chunkWeight: number;
  /** Weight of the chunks already complete, newer than this one. */
  newerWeight: number;
  size: number;
  /** Whether a batch of this chunk came (from its start, after the seek). */
  started: boolean;
  done: boolean;
  /** Per second of the records' timestamps: their weight and the smallest offset. */
  seconds: Map<number, { weight: number; offset: number }>;
}

/**
 * Per partition, the offset from which the newest records of the topic, by their timestamps across all the
 * partitions and in whole seconds, add up to as much of `wanted` as fits (the range's start when all of it adds up
 * to less): where to start reading to rebuild "the newest N of something" without reading a long history.
 *
 * Reads each partition back from its end in chunks that double (kafkajs has no backward reading) until its own
 * newest records add up to `wanted`, with a consumer of a throwaway group that never commits; then cuts at the
 * oldest second that still fits. Each record is weighed once and only its second kept (a day holds
 * 86,400), so a partition of a million one-id records needs no million-entry list.
 */
export async function offsetsHoldingNewest(options: NewestRecordsOptions): Promise<Map<number, number>> {
  const { kafka, topic, logger, wanted, timeoutMs } = options;
  const firstChunk = options.firstChunk ?? 256;
  const answers = new Map<number, number>();
  const scans = new Map<number, PartitionScan>();
  for (const [partition, { from, to }] of options.ranges) {
    if (to <= from || wanted <= 0) {
      answers.set(partition, Math.min(from, to));
      continue;
    }
    scans.set(partition, {
      from,
      chunkStart: Math.max(from, to - firstChunk),
      chunkEnd: to,
      chunkWeight: 0,
      newerWeight: 0,
      size: firstChunk,
      started: false,
      done: false,
      seconds: new Map(),
    });
  }
  if (scans.size === 0) return answers;

  let settle: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  let scanning = scans.size;
  const consumer: Consumer = kafka.consumer({
    groupId: `${options.reader}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) fail(new Error(`reading ${topic} back stopped: ${String(payload.error)}`));
  });

  const onBatch = async ({ batch }: EachBatchPayload): Promise<void> => {
    const scan = scans.get(batch.partition);
    if (!scan || scan.done) return;
    const first = batch.messages[0];
    if (!first) return;
    // Batches fetched before the last seek (past the chunk's end) may still arrive, but never after the chunk's own.
    if (!scan.started && Number(first.offset) >= scan.chunkEnd) return;
    scan.started = true;
    for (const message of batch.messages) {
      const offset = Number(message.offset);
      if (offset < scan.chunkStart || offset >= scan.chunkEnd) continue;
      const weight = await options.weigh(message, batch.partition);
      const second = Math.floor(Number(message.timestamp) / 1000);
      const bucket = scan.seconds.get(second);
      if (bucket) {
        bucket.weight += weight;
        bucket.offset = Math.min(bucket.offset, offset);
      } else scan.seconds.set(second, { weight, offset });
      scan.chunkWeight += weight;
    }
    if (Number(batch.lastOffset()) + 1 < scan.chunkEnd) return;
    scan.newerWeight += scan.chunkWeight;
    if (scan.newerWeight >= wanted || scan.chunkStart <= scan.from) {
      scan.done = true;
      consumer.pause([{ topic, partitions: [batch.partition] }]);
      scanning -= 1;
      if (scanning === 0) settle();
      return;
    }
    scan.size *= 2;
    scan.chunkEnd = scan.chunkStart;
    scan.chunkStart = Math.max(scan.from, scan.chunkEnd - scan.size);
    scan.chunkWeight = 0;
    scan.started = false;
    consumer.seek({ topic, partition: batch.partition, offset: String(scan.chunkStart) });
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: onBatch });
    for (const [partition, scan] of scans)
      consumer.seek({ topic, partition, offset: String(scan.chunkStart) });
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${topic} not read back within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch((error: unknown) => {
      logger.warn({ err: error, topic }, 'reading back: consumer did not disconnect cleanly');
    });
  }

  // The newest whole seconds, across the partitions, that together stay within `wanted` (at least the newest one):
  // whoever rebuilds from the answers then holds no more than it wants, so it never has to drop any of them again
  // in the order it happened to read the partitions.
  const totals = new Map<number, number>();
  for (const scan of scans.values())
    for (const [second, { weight }] of scan.seconds) totals.set(second, (totals.get(second) ?? 0) + weight);
  let cut = Number.NEGATIVE_INFINITY;
  let total = 0;
  for (const second of [...totals.keys()].sort((x, y) => y - x)) {
    const weight = totals.get(second) ?? 0;
    if (total > 0 && total + weight > wanted) break;
    total += weight;
    cut = second;
  }
  for (const [partition, scan] of scans) {
    let answer = options.ranges.get(partition)?.to ?? scan.chunkEnd;
    for (const [second, { offset }] of scan.seconds) if (second >= cut) answer = Math.min(answer, offset);
    answers.set(partition, answer);
  }
  return answers;
}
