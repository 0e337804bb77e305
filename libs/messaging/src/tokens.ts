/** DI token of the connected kafkajs Admin client. */
export const KAFKA_ADMIN = Symbol('KAFKA_ADMIN');
/** DI token of the kafkajs client. */
export const KAFKA_CLIENT = Symbol('KAFKA_CLIENT');
