import { randomBytes } from 'node:crypto';
import { testStackEndpoints } from './stack-endpoints';

/** A short random id to keep test runs apart (topics, groups, databases, workspaces). */
export function uniqueId(prefix = 't'): string {
  return `${prefix}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/**
 * Environment for a service started in-process by a test: real stack endpoints, its own database and consumer
 * group (so runs never share state), an ephemeral HTTP port and quiet logs.
 */
export function testServiceEnv(
  service: string,
  runId: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const endpoints = testStackEndpoints();
  return {
    KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: endpoints.registryUrl,
    MONGO_URL: endpoints.mongoUrl,
    MONGO_DB: `test_${runId}_${service}`,
    CONSUMER_GROUP: `${service}.${runId}`,
    CONSUMER_FROM_BEGINNING: 'false',
    CONSUMER_RETRY_INITIAL_MS: '50',
    CONSUMER_RETRY_MAX_MS: '200',
    HTTP_PORT: '0',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'fatal',
    // Ingestion reads its dedupe window back at start: on a long-lived dev stack full of bench runs that is millions
    // of ids a start; a test needs only its own, the newest.
    TRACKING_DEDUPE_MAX_IDS: '10000',
    ...overrides,
  };
}
