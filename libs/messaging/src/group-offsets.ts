import type { Kafka } from 'kafkajs';

/**
 * Commits a consumer group's offsets (`start` per partition) for every topic at once, e.g. where a rebuild or a bench
 * starts reading: kafkajs' `admin.setOffsets` joins the group once per topic (5 s each here), this joins once. The
 * consumer fetches nothing: it commits on joining and leaves.
 */
export async function commitGroupOffsets(
  kafka: Kafka,
  groupId: string,
  ranges: ReadonlyMap<string, readonly { partition: number; start: number }[]>,
): Promise<void> {
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topics: [...ranges.keys()], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    consumer.pause([...ranges.keys()].map((topic) => ({ topic })));
    await joined;
    await consumer.commitOffsets(
      [...ranges].flatMap(([topic, partitions]) =>
        partitions.map(({ partition, start }) => ({ topic, partition, offset: String(start) })),
      ),
    );
  } finally {
    await consumer.disconnect();
  }
}
