import type { Kafka } from 'kafkajs';
import { waitFor } from './wait-for';

/**
 * Waits until consumer group `groupId` has committed every record of `topics` written so far: what a test needs
 * before asserting that records (e.g. a republished duplicate) changed nothing, since no output marks their passing.
 */
export async function waitForGroupCaughtUp(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, Map<number, number>>();
    for (const topic of topics)
      ends.set(
        topic,
        new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)])),
      );
    await waitFor(
      `group ${groupId} to commit ${topics.join(', ')} to their ends`,
      async () => {
        const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
        return committed.every(({ topic, partitions }) =>
          partitions.every(({ partition, offset }) => {
            const high = ends.get(topic)?.get(partition) ?? 0;
            return high === 0 || Number(offset) >= high;
          }),
        );
      },
      { timeoutMs, intervalMs: 250 },
    );
  } finally {
    await admin.disconnect();
  }
}
