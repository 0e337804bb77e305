import type { Kafka } from 'kafkajs';
import type { TopicEvents, TopicName } from '@tributary/contracts';
import type { AvroSchemaRegistry } from '@tributary/messaging';
import { readTopicToEnd } from '@tributary/testing';

/**
 * A compacted report topic as an analyst reads it: the latest value per key of `workspaceId`'s records published since
 * `since`, keyed by the rest of the key (after `workspaceId|`). Reads to the topic's end, not to a first match.
 */
export async function latestReports<T extends TopicName>(
  kafka: Kafka,
  registry: AvroSchemaRegistry,
  topic: T,
  workspaceId: string,
  since: number,
): Promise<Map<string, TopicEvents[T]>> {
  const latest = new Map<string, TopicEvents[T]>();
  for (const record of await readTopicToEnd(kafka, topic, since)) {
    const key = record.key?.toString() ?? '';
    if (key.startsWith(`${workspaceId}|`) && record.value)
      latest.set(
        key.slice(workspaceId.length + 1),
        (await registry.decode(record.value, topic)) as TopicEvents[T],
      );
  }
  return latest;
}
