import { Catalog, type DeadLetter, type TopicName, type TopicSpec } from '@tributary/contracts';
import type { KafkaMessage } from 'kafkajs';
import { flattenHeaders } from '../headers';

/** Dead-letter topic of a consumer group: one per group, so a replay targets exactly the group that failed. */
export function deadLetterTopic(consumerGroup: string): string {
  return `dlq.${consumerGroup}`;
}

/** Catalog-style spec of a group's DLQ (the catalog lists the services' groups; ad-hoc groups reuse it). */
export function deadLetterTopicSpec(consumerGroup: string): TopicSpec {
  const name = deadLetterTopic(consumerGroup);
  return (
    Catalog[name as TopicName] ?? {
      ...Catalog['dlq.leads'],
      name: name as TopicName,
      subject: `${name}-value`,
    }
  );
}

/** Builds the dead-letter record: original key/value/header bytes untouched, plus where and why it failed. */
export function toDeadLetter(input: {
  message: KafkaMessage;
  topic: string;
  partition: number;
  consumerGroup: string;
  errorType: string;
  error: unknown;
  attempts: number;
  now?: number;
}): DeadLetter {
  const error = input.error instanceof Error ? input.error : new Error(String(input.error));
  return {
    originalKey: input.message.key ?? null,
    originalValue: input.message.value ?? null,
    originalHeaders: flattenHeaders(input.message.headers),
    sourceTopic: input.topic,
    sourcePartition: input.partition,
    sourceOffset: input.message.offset,
    consumerGroup: input.consumerGroup,
    errorType: input.errorType,
    errorMessage: error.message,
    errorStack: error.stack ?? null,
    attempts: input.attempts,
    failedAt: input.now ?? Date.now(),
  };
}
