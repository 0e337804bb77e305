import { randomUUID } from 'node:crypto';
import { Injectable, type NestMiddleware } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { runWithRequestContext } from '@tributary/observability';

/** Incoming ids we keep: short and printable, so a caller cannot inject log or header garbage. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, else a new UUID. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Gives every request an id: echoed in `X-Request-Id`, set on the HTTP server span and added to every log line
 * (and audit entry) written while the request is served.
 */
@Injectable()
export class RequestIdMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    const requestId = requestIdFor(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', requestId);
    trace.getActiveSpan()?.setAttribute('tributary.request_id', requestId);
    runWithRequestContext({ requestId }, next);
  }
}
