/** The one way Tributary services produce and consume: Avro over Kafka with retries, DLQ, dedupe and tracing. */
export * from './tokens';
export * from './schema-registry';
export * from './kafka-connection';
export * from './event-publisher';
export * from './event-ids';
export * from './headers';
export * from './processed-events';
export * from './consumer/failure-policy';
export * from './consumer/dead-letter';
export * from './consumer/event-context';
export * from './consumer/kafka-event-transport';
export * from './service-error.filter';
export * from './event-service.module';
export * from './run-service';
export * from './replay-dead-letters';
