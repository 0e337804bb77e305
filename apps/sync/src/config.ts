import { z } from 'zod';
import { loadServiceConfig, type ServiceConfig } from '@tributary/config';

const syncShape = {
  /** Connector that receives golden-record changes in the skeleton. */
  OUTBOUND_DESTINATION: z.string().min(1).default('crm'),
};

export type SyncConfig = ServiceConfig<typeof syncShape>;

/** Sync's validated configuration (HTTP on 3003 by default). */
export function loadSyncConfig(env: Record<string, string | undefined> = process.env): SyncConfig {
  return loadServiceConfig('sync', env, syncShape, { HTTP_PORT: '3003' });
}
