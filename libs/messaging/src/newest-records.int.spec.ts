/**
 * offsetsHoldingNewest against the real broker: where each partition's newest records add up to what is wanted,
 * checked against the same sum done by hand over what was produced.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import { createLogger } from '@tributary/observability';
import { testServiceEnv, uniqueId } from '@tributary/testing';
import { createKafka } from './kafka-connection';
import { offsetsHoldingNewest } from './newest-records';

const run = uniqueId('newest');
const env = testServiceEnv('newest', run);
const topic = `test.${run}.calls-stored`;
const logger = createLogger('newest', 'warn');
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

const t0 = Date.now() - 3_600_000;
/** Per partition, each record's weight (its value) and timestamp, in offset order. */
const records: { weight: number; at: number }[][] = [
  // Many light records, one a second: the answer needs several chunks read back.
  Array.from({ length: 1_500 }, (_, i) => ({ weight: 1, at: t0 + i * 1_000 })),
  // Light records, then a few heavy ones, newer than anything else.
  [
    ...Array.from({ length: 500 }, (_, i) => ({ weight: 1, at: t0 + i * 1_000 })),
    ...Array.from({ length: 10 }, (_, i) => ({ weight: 100, at: t0 + (1_500 + i) * 1_000 })),
  ],
  // A few, old.
  Array.from({ length: 40 }, (_, i) => ({ weight: 3, at: t0 + i * 1_000 })),
  // Nothing.
  [],
];

/**
 * By hand: whole seconds, newest first across the partitions, while their weights stay within `wanted`; each
 * partition then starts at its oldest record at or after the last second taken.
 */
function byHand(wanted: number): Record<number, number> {
  const perSecond = new Map<number, number>();
  for (const list of records)
    for (const { weight, at } of list) {
      const second = Math.floor(at / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + weight);
    }
  let total = 0;
  let cut = Number.NEGATIVE_INFINITY;
  for (const [second, weight] of [...perSecond].sort(([x], [y]) => y - x)) {
    if (total > 0 && total + weight > wanted) break;
    total += weight;
    cut = second;
  }
  return Object.fromEntries(
    records.map((list, partition) => {
      const kept = list.findIndex((r) => Math.floor(r.at / 1000) >= cut);
      return [partition, kept < 0 ? list.length : kept];
    }),
  );
}

beforeAll(async () => {
  kafka = createKafka(`newest-${run}`, env['KAFKA_BROKERS']?.split(',') ?? [], logger);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: records.length, replicationFactor: 1 }] });
  producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (const [partition, list] of records.entries()) {
    for (let i = 0; i < list.length; i += 500) {
      await producer.send({
        topic,
        acks: -1,
        messages: list
          .slice(i, i + 500)
          .map(({ weight, at }) => ({ partition, value: String(weight), timestamp: String(at) })),
      });
    }
  }
}, 60_000);

afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
});

type Weigh = Parameters<typeof offsetsHoldingNewest>[0]['weigh'];
const valueWeight: Weigh = (message) => Number(message.value?.toString());
const everyPartition = () =>
  new Map(records.map((list, partition) => [partition, { from: 0, to: list.length }]));

/** The answers for `wanted`, as a plain object by partition, read back in chunks of 64, 128, ... records. */
async function newest(
  wanted: number,
  ranges = everyPartition(),
  weigh = valueWeight,
): Promise<Record<number, number>> {
  const answers = await offsetsHoldingNewest({
    kafka,
    topic,
    reader: `newest-${run}`,
    logger,
    ranges,
    weigh,
    wanted,
    timeoutMs: 30_000,
    firstChunk: 64,
  });
  return Object.fromEntries(answers);
}

it('finds where the newest records across the partitions add up to what is wanted, however far back', async () => {
  const weighed = new Map<number, number[]>();
  const answers = await newest(1_050, everyPartition(), (message, partition) => {
    weighed.set(partition, [...(weighed.get(partition) ?? []), Number(message.offset)]);
    return valueWeight(message, partition);
  });
  expect(answers).toEqual(byHand(1_050));
  // Concretely: the 10 heavy records are the newest (1,000), then the first partition's newest 50 (of seconds
  // 1,450 to 1,499), which make exactly 1,050; nothing of the others is that new.
  expect(answers).toEqual({ 0: 1_450, 1: 500, 2: 40, 3: 0 });
  // Each record weighed once. The first partition took chunks of 64, 128, 256 and 512 records (960), then the 540
  // left; the second only its first chunk, whose 10 heavy records were enough on their own.
  const counts = [...weighed].map(([partition, offsets]) => [
    partition,
    offsets.length,
    new Set(offsets).size,
  ]);
  expect(counts.sort()).toEqual([
    [0, 1_500, 1_500],
    [1, 64, 64],
    [2, 40, 40],
  ]);
});

it('starts every partition at its range’s start when all of it adds up to less than wanted', async () => {
  const ranges = new Map([
    [0, { from: 1_200, to: 1_500 }],
    [2, { from: 0, to: 40 }],
  ]);
  expect(await newest(1_000, ranges)).toEqual({ 0: 1_200, 2: 0 });
});

it('leaves out the oldest second that would take the newest past what is wanted', async () => {
  const answers = await newest(1_049);
  // 1,000 heavy and the first partition's newest 49; its 50th would make 1,050.
  expect(answers).toEqual({ 0: 1_451, 1: 500, 2: 40, 3: 0 });
  expect(answers).toEqual(byHand(1_049));
});

it('stops short of what is wanted when the next second would overflow it, and takes nothing older', async () => {
  const answers = await newest(950);
  // The newest nine heavy records make 900; a tenth would make 1,000. Nothing else is newer.
  expect(answers).toEqual({ 0: 1_500, 1: 501, 2: 40, 3: 0 });
  expect(answers).toEqual(byHand(950));
});
