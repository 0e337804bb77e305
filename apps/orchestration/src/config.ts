import { z } from 'zod';
import { loadServiceConfig, type ServiceConfig } from '@tributary/config';

const orchestrationShape = {
  /** Score at which a contact moves from the welcome step to the sales-ready nurture step. */
  NURTURE_SCORE_THRESHOLD: z.coerce.number().int().min(0).default(20),
};

export type OrchestrationConfig = ServiceConfig<typeof orchestrationShape>;

/** Orchestration's validated configuration (HTTP on 3002 by default). */
export function loadOrchestrationConfig(
  env: Record<string, string | undefined> = process.env,
): OrchestrationConfig {
  return loadServiceConfig('orchestration', env, orchestrationShape, { HTTP_PORT: '3002' });
}
