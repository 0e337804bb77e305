/** OpenTelemetry setup, HTTP server spans and the structured logger shared by every service. */
export * from './telemetry';
export * from './logger';
export * from './http-tracing';
export * from './request-context';
