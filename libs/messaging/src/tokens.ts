/** DI token of the service's mongoose Connection (its own database). */
export const STORE_CONNECTION = Symbol('STORE_CONNECTION');
/** DI token of the connected kafkajs Admin client. */
export const KAFKA_ADMIN = Symbol('KAFKA_ADMIN');
/** DI token of the kafkajs client. */
export const KAFKA_CLIENT = Symbol('KAFKA_CLIENT');
