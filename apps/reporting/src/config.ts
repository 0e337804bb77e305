import { sharedAccessConfigShape } from '@tributary/access';
import { loadServiceConfig, type ServiceConfig } from '@tributary/config';

const reportingShape = { ...sharedAccessConfigShape };

export type ReportingConfig = ServiceConfig<typeof reportingShape>;

/** Reporting's validated configuration (HTTP on 3004 by default). */
export function loadReportingConfig(env: Record<string, string | undefined> = process.env): ReportingConfig {
  return loadServiceConfig('reporting', env, reportingShape, { HTTP_PORT: '3004' });
}
