import { z } from 'zod';
import { sharedAccessConfigShape } from '@tributary/access';
import { loadServiceConfig, type ServiceConfig } from '@tributary/config';
import { enrichmentConfigShape } from './enrichment/enrichment.config';
import { scoringModelConfigShape } from './models/scoring-model.store';
import { routingConfigShape } from './routing/routing.config';

const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false'])
    .default(fallback)
    .transform((value) => value === 'true');

const leadsShape = {
  /** Match `ada+news@example.com` to `ada@example.com` in identity resolution (off: some mailboxes treat `+` literally). */
  IDENTITY_STRIP_PLUS_ADDRESSING: flag('false'),
  /** Run the interval jobs (SLA sweeps, re-enrichment); off for one-shot tools like the rescore CLI. */
  LEADS_BACKGROUND_JOBS: flag('true'),
  /** How often each replica looks for contacts whose enrichment is due for another try (ms). */
  ENRICHMENT_RETRY_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(10_000),
  /** First re-enrichment attempt after this long; doubles per attempt up to ENRICHMENT_RETRY_MAX_MS. */
  ENRICHMENT_RETRY_BASE_MS: z.coerce.number().int().min(10).default(30_000),
  ENRICHMENT_RETRY_MAX_MS: z.coerce.number().int().min(10).default(3_600_000),
  /**
   * How far ahead of this service's clock an event may be stamped (any producer may publish, not only the edge that
   * clamps client times); a later time counts as now + this, so it can neither decay a contact's other events nor
   * stay newer than them. Capped at an hour, like ingestion's.
   */
  MAX_FUTURE_SKEW_SECONDS: z.coerce.number().int().min(0).max(3_600).default(300),
  ...sharedAccessConfigShape,
  ...enrichmentConfigShape,
  ...scoringModelConfigShape,
  ...routingConfigShape,
};

export type LeadsConfig = ServiceConfig<typeof leadsShape>;

/** The lead service's validated configuration (HTTP on 3001 by default). */
export function loadLeadsConfig(env: Record<string, string | undefined> = process.env): LeadsConfig {
  return loadServiceConfig('leads', env, leadsShape, { HTTP_PORT: '3001' });
}
