import { z } from 'zod';
import { sharedAccessConfigShape } from '@tributary/access';
import { loadServiceConfig, type ServiceConfig } from '@tributary/config';

const reportingShape = {
  ...sharedAccessConfigShape,
  /** How soon a workspace whose read models moved has its report topics published again. */
  REPORT_TOPICS_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
  /** How many recent days of funnel and attribution each publication covers (merges and late events move them). */
  REPORT_TOPICS_DAYS: z.coerce.number().int().min(1).max(400).default(35),
  /** Whether this process publishes report topics (a recompute into a scratch database must not). */
  REPORT_TOPICS_PUBLISH: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /** Take in only this workspace's events (a recompute of one workspace); every workspace when unset. */
  REPORT_ONLY_WORKSPACE: z.string().min(1).optional(),
};

export type ReportingConfig = ServiceConfig<typeof reportingShape>;

/** Reporting's validated configuration (HTTP on 3004 by default). */
export function loadReportingConfig(env: Record<string, string | undefined> = process.env): ReportingConfig {
  return loadServiceConfig('reporting', env, reportingShape, { HTTP_PORT: '3004' });
}
