import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import type { Connection } from 'mongoose';
import { Catalog, type TopicName } from '@tributary/contracts';
import {
  createLogger,
  type Logger,
  HealthController,
  READINESS_CHECKS,
  ReadinessProbe,
  SERVICE_LOGGER,
} from '@tributary/observability';
import { SERVICE_CONFIG, type ServiceConfig } from '@tributary/config';
import {
  connectServiceStore,
  ProcessedEventBatches,
  ProcessedEvents,
  storeReadiness,
  STORE_CONNECTION,
} from '@tributary/store';
import {
  AvroSchemaRegistry,
  brokerReadiness,
  createKafka,
  ensureTopics,
  EventPublisher,
  KafkaEventTransport,
  KAFKA_ADMIN,
  KAFKA_CLIENT,
} from '@tributary/messaging';

/** The topics a service touches according to the catalog (its dead-letter topic is the transport's business). */
export function catalogTopicsOf(service: string): { produces: TopicName[]; consumes: TopicName[] } {
  const specs = Object.values(Catalog);
  const produces = specs.filter((s) => s.producers.includes(service)).map((s) => s.name);
  const consumes = specs.filter((s) => s.consumers.includes(service)).map((s) => s.name);
  return { produces: produces.filter((name) => !name.startsWith('dlq.')), consumes };
}

@Injectable()
class ConnectionsLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly processed: ProcessedEvents,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    @Inject(STORE_CONNECTION) private readonly store: Connection,
  ) {}

  // Runs after Nest closed the transport (which finished its in-flight batch), so late publishes still go out.
  async onApplicationShutdown(): Promise<void> {
    this.processed.stop();
    await this.publisher.disconnect();
    await this.admin.disconnect();
    await this.store.close();
  }
}

/**
 * Everything an event-driven Tributary service needs, wired once: validated config, logger, its own Mongo database,
 * Kafka (admin, producer, consumer transport), the schema registry, dedupe store and health endpoints.
 * At start-up it creates the catalog topics the service touches and registers the schemas it produces.
 */
@Module({})
export class EventServiceModule {
  static forRoot(config: ServiceConfig): DynamicModule {
    const service = config.SERVICE_NAME;
    const topics = catalogTopicsOf(service);
    return {
      module: EventServiceModule,
      global: true,
      controllers: [HealthController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useFactory: () => createLogger(service, config.LOG_LEVEL) },
        {
          provide: STORE_CONNECTION,
          inject: [SERVICE_LOGGER],
          useFactory: (logger: Logger) =>
            connectServiceStore(config.MONGO_URL, config.MONGO_DB, {
              slowCommandMs: config.STORE_SLOW_COMMAND_MS,
              onSlowCommand: (slow) =>
                logger.warn({ event: 'slow-store-command', ...slow }, 'slow store command'),
            }),
        },
        {
          provide: KAFKA_CLIENT,
          inject: [SERVICE_LOGGER],
          useFactory: (logger: Logger) => createKafka(config.KAFKA_CLIENT_ID, config.KAFKA_BROKERS, logger),
        },
        {
          provide: KAFKA_ADMIN,
          inject: [KAFKA_CLIENT],
          useFactory: async (kafka: Kafka) => {
            const admin = kafka.admin();
            await admin.connect();
            const names = [...new Set([...topics.produces, ...topics.consumes])];
            await ensureTopics(
              admin,
              names.map((n) => Catalog[n]),
              config.TOPIC_REPLICATION_FACTOR,
            );
            return admin;
          },
        },
        {
          provide: AvroSchemaRegistry,
          useFactory: async () => {
            const registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
            await registry.registerTopics(topics.produces);
            return registry;
          },
        },
        {
          provide: EventPublisher,
          inject: [KAFKA_CLIENT, AvroSchemaRegistry, KAFKA_ADMIN],
          useFactory: async (kafka: Kafka, registry: AvroSchemaRegistry) => {
            const publisher = new EventPublisher(kafka, registry, service);
            await publisher.connect();
            return publisher;
          },
        },
        {
          provide: ProcessedEventBatches,
          inject: [STORE_CONNECTION],
          useFactory: (connection: Connection) => new ProcessedEventBatches(connection),
        },
        {
          provide: ProcessedEvents,
          inject: [STORE_CONNECTION],
          useFactory: async (connection: Connection) => {
            const processed = new ProcessedEvents(connection, config.DEDUPE_TTL_HOURS);
            await processed.init();
            return processed;
          },
        },
        {
          provide: KafkaEventTransport,
          inject: [
            KAFKA_CLIENT,
            KAFKA_ADMIN,
            AvroSchemaRegistry,
            EventPublisher,
            SERVICE_LOGGER,
            STORE_CONNECTION,
          ],
          useFactory: (
            kafka: Kafka,
            admin: Admin,
            registry: AvroSchemaRegistry,
            publisher: EventPublisher,
            logger: Logger,
            store: Connection,
          ) =>
            new KafkaEventTransport({
              kafka,
              admin,
              replicationFactor: config.TOPIC_REPLICATION_FACTOR,
              registry,
              publisher,
              logger,
              service,
              consumerGroup: config.CONSUMER_GROUP,
              fromBeginning: config.CONSUMER_FROM_BEGINNING,
              partitionsConcurrency: config.CONSUMER_PARTITIONS_CONCURRENCY,
              maxBytesPerPartition: config.CONSUMER_MAX_BYTES_PER_PARTITION,
              maxBytes: config.CONSUMER_MAX_BYTES,
              ...(config.CONSUMER_FETCH_MIN_BYTES === undefined
                ? {}
                : { fetchMinBytes: config.CONSUMER_FETCH_MIN_BYTES }),
              ...(config.CONSUMER_FETCH_MAX_WAIT_MS === undefined
                ? {}
                : { fetchMaxWaitMs: config.CONSUMER_FETCH_MAX_WAIT_MS }),
              retry: {
                maxAttempts: config.CONSUMER_MAX_ATTEMPTS,
                initialDelayMs: config.CONSUMER_RETRY_INITIAL_MS,
                maxDelayMs: config.CONSUMER_RETRY_MAX_MS,
              },
              storeReady: async () => {
                await store.db?.command({ ping: 1 });
                return true;
              },
            }),
        },
        {
          provide: READINESS_CHECKS,
          inject: [KAFKA_ADMIN, AvroSchemaRegistry, STORE_CONNECTION],
          useFactory: (admin: Admin, registry: AvroSchemaRegistry, store: Connection) => [
            brokerReadiness(admin),
            registry.readiness(),
            storeReadiness(store),
          ],
        },
        ReadinessProbe,
        ConnectionsLifecycle,
      ],
      exports: [
        SERVICE_CONFIG,
        SERVICE_LOGGER,
        STORE_CONNECTION,
        KAFKA_CLIENT,
        KAFKA_ADMIN,
        AvroSchemaRegistry,
        EventPublisher,
        ProcessedEvents,
        ProcessedEventBatches,
        KafkaEventTransport,
      ],
    };
  }
}
