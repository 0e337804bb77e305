import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import { trace } from '@opentelemetry/api';
import { currentRequestId } from './request-context';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line (secrets, credentials). */
const SECRET_KEYS = [
  'password',
  'secret',
  'token',
  'authorization',
  'apiKey',
  'writeKey',
  'client_secret',
  'clientSecret',
  'access_token',
  'accessToken',
  'adminToken',
];
const REDACT = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body.client_secret',
  'request.headers.authorization',
];

/**
 * The one structured JSON logger: service name on every line, trace ids when a span is active, the request id while
 * serving an HTTP request, secrets redacted. `destination` is for tests.
 */
export function createLogger(service: string, level = 'info', destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const requestId = currentRequestId();
      const span = trace.getActiveSpan();
      if (!span) return requestId ? { requestId } : {};
      const { traceId, spanId } = span.spanContext();
      return requestId ? { traceId, spanId, requestId } : { traceId, spanId };
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Adapts pino to Nest's LoggerService so framework logs are JSON lines too. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, ...rest: unknown[]): void {
    this.logger.info({ context: rest.at(-1) }, String(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.logger.error(
      { context: rest.at(-1), stack: rest.length > 1 ? rest[0] : undefined },
      String(message),
    );
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.logger.warn({ context: rest.at(-1) }, String(message));
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.logger.debug({ context: rest.at(-1) }, String(message));
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.logger.trace({ context: rest.at(-1) }, String(message));
  }
}
