/** What SREs see of a service: OpenTelemetry setup, HTTP server spans, the structured logger and health probes. */
export * from './telemetry';
export * from './logger';
export * from './tokens';
export * from './http-tracing';
export * from './request-context';
export * from './health';
