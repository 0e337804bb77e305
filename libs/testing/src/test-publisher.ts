import type { Kafka } from 'kafkajs';
import { Topics, type LeadScored, type TopicName } from '@tributary/contracts';
import { AvroSchemaRegistry, EventPublisher, createKafka } from '@tributary/messaging';
import { createLogger } from '@tributary/observability';

/** What a test publishes with, and reads the service's answers back with, on the real stack. */
export interface TestPublisher {
  kafka: Kafka;
  registry: AvroSchemaRegistry;
  publisher: EventPublisher;
}

/**
 * A connected publisher of `topics` for a test, as another service would publish them: its own Kafka client (named
 * `name`, logging only fatal errors) and registry client, the topics' schemas registered.
 */
export async function connectTestPublisher(
  name: string,
  endpoints: { KAFKA_BROKERS: readonly string[]; SCHEMA_REGISTRY_URL: string },
  topics: readonly TopicName[],
): Promise<TestPublisher> {
  const kafka = createKafka(name, [...endpoints.KAFKA_BROKERS], createLogger(name, 'fatal'));
  const registry = new AvroSchemaRegistry(endpoints.SCHEMA_REGISTRY_URL);
  await registry.registerTopics(topics);
  const publisher = new EventPublisher(kafka, registry, name);
  await publisher.connect();
  return { kafka, registry, publisher };
}

/** Publishes scores on leads.scored keyed by contact, as the lead service does. */
export async function publishLeadsScored(
  publisher: EventPublisher,
  scores: readonly LeadScored[],
): Promise<void> {
  await publisher.publishAll(
    scores.map((event) => ({ topic: Topics.LeadsScored, key: event.contactId, event })),
  );
}
