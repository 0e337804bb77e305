import { loadServiceConfig, type ServiceConfig } from '@tributary/platform';

export type ReportingConfig = ServiceConfig;

/** Reporting's validated configuration (HTTP on 3004 by default). */
export function loadReportingConfig(env: Record<string, string | undefined> = process.env): ReportingConfig {
  return loadServiceConfig('reporting', env, {}, { HTTP_PORT: '3004' });
}
