import { ConfigError, loadServiceConfig, type ServiceConfig } from '@tributary/config';
import { accessConfigProblems, accessConfigShape } from './access/access.config';
import { trackingConfigShape } from './tracking/tracking.config';
import { webhooksConfigShape } from './webhooks/webhooks.config';

const ingestionShape = { ...accessConfigShape, ...trackingConfigShape, ...webhooksConfigShape };

export type IngestionConfig = ServiceConfig<typeof ingestionShape>;

/** Ingestion's validated configuration (HTTP on 3000 by default); every problem is named in one error. */
export function loadIngestionConfig(env: Record<string, string | undefined> = process.env): IngestionConfig {
  const crossKeyProblems = accessConfigProblems(env);
  let config: IngestionConfig;
  try {
    config = loadServiceConfig('ingestion', env, ingestionShape, { HTTP_PORT: '3000' });
  } catch (error) {
    if (error instanceof ConfigError && crossKeyProblems.length > 0) {
      throw new ConfigError('ingestion', [...error.problems, ...crossKeyProblems]);
    }
    throw error;
  }
  if (crossKeyProblems.length > 0) throw new ConfigError('ingestion', crossKeyProblems);
  return config;
}
