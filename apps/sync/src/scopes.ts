/**
 * The credential scopes sync's APIs honour. tools/services/services.json records the same (npm run services:check
 * compares the two), so ingestion's admin API can issue keys for them.
 */
export const SyncScopes = {
  /** Create, test, pause, resume and delete vendor connections (their credentials are never returned). */
  connectionsAdmin: 'connections:admin',
  /** Read connections and their change capture state. */
  connectionsRead: 'connections:read',
  /** Read golden records, their history and conflicts, and the survivorship rules. */
  recordsRead: 'records:read',
  /** Set golden-record values by hand (and lock them), and change the survivorship rules. */
  recordsWrite: 'records:write',
  /** Erase a person: delete their records in every connected system and the golden record's personal data. */
  recordsErase: 'records:erase',
} as const;
