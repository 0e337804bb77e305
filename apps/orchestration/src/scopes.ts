/**
 * The credential scopes orchestration's APIs honour. tools/services/services.json records the same (npm run
 * services:check compares the two), so ingestion's admin API can issue keys for them.
 */
export const OrchestrationScopes = {
  journeysAdmin: 'journeys:admin',
  journeysRead: 'journeys:read',
} as const;
