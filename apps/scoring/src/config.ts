import { loadServiceConfig, type ServiceConfig } from '@tributary/platform';

export type ScoringConfig = ServiceConfig;

/** Scoring's validated configuration (HTTP on 3001 by default). */
export function loadScoringConfig(env: Record<string, string | undefined> = process.env): ScoringConfig {
  return loadServiceConfig('scoring', env, {}, { HTTP_PORT: '3001' });
}
