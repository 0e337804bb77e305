import type { Admin, ConsumerConfig, ConsumerRunConfig, Kafka } from 'kafkajs';
import type { Logger } from '@tributary/observability';
import type { AvroSchemaRegistry } from '../schema-registry';
import type { EventPublisher } from '../event-publisher';
import { FETCH_MAX_WAIT_MS, FETCH_MIN_BYTES, KafkaEventTransport } from './kafka-event-transport';

interface Settings {
  consumer: ConsumerConfig;
  run: ConsumerRunConfig;
}

/**
 * Starts a transport on `topics` against a Kafka that records how the consumer is set up and run, then refuses to go
 * on (the transport's start fails after `run`).
 */
function consumerSettings(
  topics: string[],
  overrides: {
    fetchMinBytes?: number;
    fetchMaxWaitMs?: number;
    maxBytes?: number;
    maxBytesPerPartition?: number;
  } = {},
): Promise<Settings> {
  return new Promise((resolve) => {
    let consumer: ConsumerConfig | undefined;
    const kafka = {
      consumer: (config: ConsumerConfig) => {
        consumer = config;
        return {
          events: { GROUP_JOIN: 'join', FETCH: 'fetch' },
          on: () => undefined,
          connect: () => Promise.resolve(),
          subscribe: () => Promise.resolve(),
          run: (run: ConsumerRunConfig) => {
            if (consumer) resolve({ consumer, run });
            return Promise.reject(new Error('settings recorded'));
          },
        };
      },
    } as unknown as Kafka;
    const admin = {
      listTopics: () => Promise.resolve(['dlq.reporting']),
      fetchTopicMetadata: () =>
        Promise.resolve({ topics: [{ name: 'dlq.reporting', partitions: [{ partitionId: 0 }] }] }),
    } as unknown as Admin;
    const transport = new KafkaEventTransport({
      kafka,
      admin,
      replicationFactor: 1,
      registry: {} as AvroSchemaRegistry,
      publisher: {} as EventPublisher,
      consumerGroup: 'reporting',
      fromBeginning: false,
      service: 'reporting',
      logger: {} as Logger,
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 100 },
      partitionsConcurrency: 6,
      storeReady: () => Promise.resolve(true),
      ...overrides,
    });
    for (const topic of topics) transport.addHandler(topic, () => Promise.resolve(), true);
    transport.listen(() => undefined);
  });
}

describe('KafkaEventTransport consumer settings', () => {
  it('lets the broker fill a fetch for a while instead of answering with the first record', async () => {
    const { consumer } = await consumerSettings(['tracking.events']);
    expect(consumer.minBytes).toBe(FETCH_MIN_BYTES);
    expect(consumer.maxWaitTimeInMs).toBe(FETCH_MAX_WAIT_MS);
    expect(FETCH_MIN_BYTES).toBeGreaterThan(1);
  });

  it('takes other fetch bounds where a service asks', async () => {
    const { consumer } = await consumerSettings(['tracking.events'], {
      fetchMinBytes: 1,
      fetchMaxWaitMs: 20,
      maxBytes: 2_097_152,
      maxBytesPerPartition: 1_048_576,
    });
    expect(consumer.minBytes).toBe(1);
    expect(consumer.maxWaitTimeInMs).toBe(20);
    expect(consumer.maxBytes).toBe(2_097_152);
    expect(consumer.maxBytesPerPartition).toBe(1_048_576);
  });

  it('handles the partitions of every subscribed topic at once: the concurrency is per topic', async () => {
    const { run } = await consumerSettings([
      'tracking.events',
      'leads.scored',
      'journey.steps',
      'sync.outbound',
    ]);
    expect(run.partitionsConsumedConcurrently).toBe(24);
  });
});
