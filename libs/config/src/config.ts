import { z, type ZodRawShape, type ZodObject } from 'zod';

/** Raised at boot when configuration is missing or malformed; the message names every bad key. */
export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const csv = z
  .string()
  .min(1)
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

/** Settings every service has: broker, registry, store, HTTP, telemetry. Keys are environment variable names. */
export const baseConfigShape = {
  KAFKA_BROKERS: csv.default('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).optional(),
  SCHEMA_REGISTRY_URL: z.string().url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
  MONGO_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// URL')
    .default('mongodb://127.0.0.1:27017'),
  MONGO_DB: z.string().min(1).optional(),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535),
  /** key:workspace pairs for workspace-scoped APIs until the key store lands (ingestion's auth issue). */
  WRITE_KEYS: z.string().min(3).default('demo-write-key:ws_demo'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  /** Consumer group id; defaults to the service name (override to run isolated copies, e.g. in tests). */
  CONSUMER_GROUP: z.string().min(1).optional(),
  /** Where a brand-new consumer group starts: the oldest retained record (true) or only new ones (false). */
  CONSUMER_FROM_BEGINNING: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  CONSUMER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  CONSUMER_RETRY_INITIAL_MS: z.coerce.number().int().min(1).default(200),
  CONSUMER_RETRY_MAX_MS: z.coerce.number().int().min(1).default(10_000),
  CONSUMER_PARTITIONS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(6),
  /**
   * Bytes one fetch may bring per partition (kafkajs defaults to 1 MiB, ~2,000 tracking events). Larger fetches give
   * batch handlers more records per store round when a backlog builds up; without a backlog fetches stay small.
   */
  CONSUMER_MAX_BYTES_PER_PARTITION: z.coerce.number().int().min(65_536).default(4_194_304),
  /**
   * Bytes one fetch may bring in all (kafkajs' default, 10 MiB). kafkajs holds a whole fetch decoded, each record
   * with its buffers and string offsets, until every batch of it is handled: about 4 KB of heap a tracking event.
   */
  CONSUMER_MAX_BYTES: z.coerce.number().int().min(65_536).default(10_485_760),
  /**
   * The broker holds a fetch until it has this many bytes or CONSUMER_FETCH_MAX_WAIT_MS passed; unset, the transport's
   * 16 KiB and 100 ms (FETCH_MIN_BYTES, FETCH_MAX_WAIT_MS in libs/messaging). Lower wait: less latency at a low rate,
   * more and smaller batches.
   */
  CONSUMER_FETCH_MIN_BYTES: z.coerce.number().int().min(1).optional(),
  CONSUMER_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(0).max(30_000).optional(),
  DEDUPE_TTL_HOURS: z.coerce.number().int().min(1).default(168),
  /** Log store commands slower than this (command, collection, ms; never values); 0 = off. */
  STORE_SLOW_COMMAND_MS: z.coerce.number().int().min(0).default(0),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
} satisfies ZodRawShape;

export type BaseConfigShape = typeof baseConfigShape;

/** Validated service configuration: the base keys, the service's own keys, and resolved defaults. */
export type ServiceConfig<S extends ZodRawShape = Record<never, never>> = Omit<
  z.infer<ZodObject<BaseConfigShape & S>>,
  'MONGO_DB' | 'KAFKA_CLIENT_ID' | 'CONSUMER_GROUP'
> & {
  SERVICE_NAME: string;
  MONGO_DB: string;
  KAFKA_CLIENT_ID: string;
  CONSUMER_GROUP: string;
};

/**
 * Parses configuration once at boot from an env-like record. Fails with every problem listed at once,
 * so an operator fixes a deployment in one go.
 */
export function loadServiceConfig<S extends ZodRawShape>(
  service: string,
  env: Record<string, string | undefined>,
  extra: S,
  defaults: Partial<Record<keyof BaseConfigShape | keyof S, string>> = {},
): ServiceConfig<S> {
  const schema = z.object({ ...baseConfigShape, ...extra });
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] =
      value === undefined || value === '' ? (defaults as Record<string, string | undefined>)[key] : value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      service,
      parsed.error.issues.map((issue) => {
        const key = issue.path.join('.');
        return input[key] === undefined ? `${key}: missing (${issue.message})` : `${key}: ${issue.message}`;
      }),
    );
  }
  const data = parsed.data as z.infer<ZodObject<BaseConfigShape & S>>;
  return {
    ...data,
    SERVICE_NAME: service,
    MONGO_DB: data.MONGO_DB ?? `tributary_${service}`,
    KAFKA_CLIENT_ID: data.KAFKA_CLIENT_ID ?? `tributary-${service}`,
    CONSUMER_GROUP: data.CONSUMER_GROUP ?? service,
  };
}
