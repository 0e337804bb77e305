/**
 * The credential scopes sync's APIs honour: none, it serves no credential-guarded API. Declare any here and in
 * tools/services/services.json (npm run services:check compares the two).
 */
export const SyncScopes = {} as const;
