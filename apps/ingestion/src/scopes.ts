/**
 * The credential scopes ingestion's APIs honour. tools/services/services.json records the same (npm run
 * services:check compares the two), and the admin API issues keys for the union of every service's scopes.
 */
export const IngestionScopes = {
  trackWrite: 'track:write',
  leadsWrite: 'leads:write',
  /** A workspace's own admin API (its keys and OAuth clients). */
  admin: 'admin',
  /** One per webhook source (`webhooks:hubspot`); deliveries themselves are verified by signature, not by key. */
  webhooks: 'webhooks:<source>',
} as const;
