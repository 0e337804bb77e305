/**
 * The credential scopes reporting's APIs honour. tools/services/services.json records the same (npm run
 * services:check compares the two), so ingestion's admin API can issue keys for them.
 */
export const ReportingScopes = {
  reportsRead: 'reports:read',
  /** Changes how the workspace's reports are cut (time zone, late events, attribution). */
  reportsAdmin: 'reports:admin',
} as const;
