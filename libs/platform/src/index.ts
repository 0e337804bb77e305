/** Config, health probes, the store connection and workspace auth shared by every service. */
export * from './config';
export * from './tokens';
export * from './health';
export * from './mongo';
export * from './workspace-auth';
export * from './request-input';
export * from './api-errors';
