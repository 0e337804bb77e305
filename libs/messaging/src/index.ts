/** The one way Tributary services produce and consume: Avro over Kafka with retries, dead letters, replay and tracing. */
export * from './tokens';
export * from './schema-registry';
export * from './kafka-connection';
export * from './event-publisher';
export * from './event-ids';
export * from './headers';
export * from './consumer/failure-policy';
export * from './consumer/dead-letter';
export * from './consumer/event-context';
export * from './consumer/kafka-event-transport';
export * from './replay-dead-letters';
export * from './topic-follower';
export * from './newest-records';
export * from './key-partitioner';
export * from './group-offsets';
