import { loadServiceConfig, type ServiceConfig } from '@tributary/platform';
import { accessConfigShape } from './access/access.config';
import { trackingConfigShape } from './tracking/tracking.config';
import { webhooksConfigShape } from './webhooks/webhooks.config';

const ingestionShape = { ...accessConfigShape, ...trackingConfigShape, ...webhooksConfigShape };

export type IngestionConfig = ServiceConfig<typeof ingestionShape>;

/** Ingestion's validated configuration (HTTP on 3000 by default). */
export function loadIngestionConfig(env: Record<string, string | undefined> = process.env): IngestionConfig {
  return loadServiceConfig('ingestion', env, ingestionShape, { HTTP_PORT: '3000' });
}
