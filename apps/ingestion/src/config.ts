import { loadServiceConfig, type ServiceConfig } from '@tributary/platform';

export type IngestionConfig = ServiceConfig;

/** Ingestion's validated configuration (HTTP on 3000 by default). */
export function loadIngestionConfig(env: Record<string, string | undefined> = process.env): IngestionConfig {
  return loadServiceConfig('ingestion', env, {}, { HTTP_PORT: '3000' });
}
