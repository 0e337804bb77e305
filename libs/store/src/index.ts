/**
 * Each service's own database: the connection, batch reads and claims, expiry, the error classes a consumer acts on,
 * and the once-only record of processed events that makes effects idempotent.
 */
export * from './tokens';
export * from './mongo';
export * from './processed-events';
export * from './processed-batches';
