/**
 * The credential scopes leads' APIs honour. tools/services/services.json records the same (npm run services:check
 * compares the two), so ingestion's admin API can issue keys for them.
 */
export const LeadsScopes = {
  contactsRead: 'contacts:read',
  leadsAccept: 'leads:accept',
  scoringAdmin: 'scoring:admin',
  routingAdmin: 'routing:admin',
  routingRead: 'routing:read',
} as const;
