/**
 * Who may call a service and how often: the HTTP workspace guard and its principal, scopes, the API key format and
 * hashing, access token verification, the credential table that lets every service honour the edge's keys, and the
 * rate limits and failed-authentication throttle every service applies to them, and the box that seals stored
 * credentials.
 */
export * from './workspace-auth';
export * from './credentials';
export * from './ttl-cache';
export * from './access-token-verifier';
export * from './principal-rules';
export * from './credential-resolver';
export * from './credential-records';
export * from './credential-state';
export * from './credential-table';
export * from './shared-credentials';
export * from './token-buckets';
export * from './rate-limits';
export * from './auth-failures';
export * from './rate-limit.config';
export * from './shared-access.config';
export * from './shared-access.module';
export * from './secret-box';
export * from './openapi-scopes';
