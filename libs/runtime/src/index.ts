/**
 * The service runtime: composes config, observability, the store, messaging and access into a running NestJS service
 * (`EventServiceModule`, `startService`, `runServiceMain`), with the HTTP input checks and error bodies every
 * service answers with.
 */
export * from './request-input';
export * from './api-errors';
export * from './service-error.filter';
export * from './event-service.module';
export * from './run-service';
export * from './definition-document';
export * from './openapi';
export * from './poll-loop';
