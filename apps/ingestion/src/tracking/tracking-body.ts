import type { INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { gunzip } from 'node:zlib';
import {
  applyRateLimitDecision,
  AUTH_FAILURES,
  clientAddress,
  presentedKey,
  RATE_LIMITER,
  refuseThrottledAddress,
  WORKSPACE_KEYS,
  type AuthFailureThrottle,
  type CredentialRateLimiter,
  type WorkspaceKeyResolver,
} from '@tributary/access';
import { toApiError } from '@tributary/runtime';
import type { FieldProblem } from '../leads/field-problem';
import { CALL_TYPES, MAX_BATCH_BYTES, MAX_EVENT_BYTES } from './segment-calls';

/** The tracking routes (Segment HTTP Tracking API). */
export const TRACKING_PATHS = [...CALL_TYPES, 'batch'].map((type) => `/v1/${type}`);

/** What the reader made of a tracking request body; the controller answers a failure after authentication. */
export type TrackingBody =
  | { ok: true; json: unknown; raw: Buffer; contentType: string }
  | { ok: false; problems: FieldProblem[]; raw: Buffer; contentType: string };

export type TrackingRequest = Request & { trackingBody?: TrackingBody };

// Beyond this many bytes on the wire we stop buffering and let the socket go: nobody legitimate sends it.
const WIRE_HARD_CAP = 8 * MAX_BATCH_BYTES;

function limitFor(path: string): { bytes: number; label: string } {
  return path === '/v1/batch'
    ? { bytes: MAX_BATCH_BYTES, label: '500 KB per batch' }
    : { bytes: MAX_EVENT_BYTES, label: '32 KB per event' };
}

function tooLarge(limit: { bytes: number; label: string }): FieldProblem[] {
  return [
    { field: '(body)', reason: `request body exceeds the limit of ${limit.label} (${limit.bytes} bytes)` },
  ];
}

function readWire(req: Request, cap: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) truncated = true;
      else chunks.push(chunk);
      if (size > WIRE_HARD_CAP) req.destroy();
    });
    req.on('end', () => resolve({ bytes: Buffer.concat(chunks), truncated }));
    req.on('error', reject);
  });
}

function inflate(bytes: Buffer, maxOutputLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    gunzip(bytes, { maxOutputLength }, (error, out) => (error ? reject(error) : resolve(out))),
  );
}

/** Reads, inflates (Content-Encoding: gzip, as SDKs send it), size-checks and parses one tracking body. */
export async function readTrackingBody(req: Request): Promise<TrackingBody> {
  const contentType = req.headers['content-type'] ?? '';
  const limit = limitFor(req.baseUrl || req.path);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const fail = (problems: FieldProblem[], raw: Buffer = Buffer.alloc(0)): TrackingBody => ({
    ok: false,
    problems,
    raw,
    contentType,
  });
  if (encoding !== 'identity' && encoding !== 'gzip') {
    return fail([{ field: 'content-encoding', reason: `unsupported "${encoding}" (use gzip or none)` }]);
  }
  // Compressed bytes are capped too (with slack for gzip's overhead on incompressible bodies).
  const wire = await readWire(req, limit.bytes + 1024);
  if (wire.truncated) return fail(tooLarge(limit));
  let raw: Buffer = wire.bytes;
  if (encoding === 'gzip') {
    try {
      raw = await inflate(wire.bytes, limit.bytes);
    } catch (error) {
      const code = (error as { code?: string }).code;
      return code === 'ERR_BUFFER_TOO_LARGE'
        ? fail(tooLarge(limit))
        : fail([{ field: 'content-encoding', reason: 'body is not valid gzip' }]);
    }
  }
  if (raw.length > limit.bytes) return fail(tooLarge(limit), raw);
  try {
    return { ok: true, json: JSON.parse(raw.toString('utf8')) as unknown, raw, contentType };
  } catch {
    return fail([{ field: '(body)', reason: 'body is not valid JSON' }], raw);
  }
}

/**
 * Express middleware for the tracking routes, registered before Nest's JSON parser (which then skips them): Nest's
 * parser would answer gzip and size errors with HTML and its own 100 KB limit, not the spec's limits as JSON.
 * A `writeKey` in the body becomes HTTP Basic credentials when no Authorization header came, so WorkspaceKeyGuard
 * stays the one place that authenticates.
 */
export function trackingBodyReader(req: TrackingRequest, _res: Response, next: NextFunction): void {
  if (req.method !== 'POST') return next();
  readTrackingBody(req).then(
    (body) => {
      req.trackingBody = body;
      (req as { _body?: boolean })._body = true;
      if (body.ok) req.body = body.json;
      const writeKey = body.ok ? (body.json as { writeKey?: unknown } | null)?.writeKey : undefined;
      if (!req.headers.authorization && typeof writeKey === 'string' && writeKey.length > 0) {
        req.headers.authorization = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
      }
      next();
    },
    (error: unknown) => next(error),
  );
}

/**
 * Refuses, before a byte of the body is read, a caller that would be refused anyway: its address throttled for
 * failed authentication, or its credential or workspace out of allowance. Reading and parsing a 500 KB batch costs
 * milliseconds of the one event loop every tenant shares, so a client ignoring Retry-After must not get that far.
 * Unknown keys and anything else go on to the reader and WorkspaceKeyGuard, which decide as always.
 */
export function refuseThrottledEarly(
  keys: WorkspaceKeyResolver,
  limiter: CredentialRateLimiter | undefined,
  failures: AuthFailureThrottle | undefined,
): (req: Request, res: Response, next: NextFunction) => void {
  const refuse = (res: Response, error: unknown) => {
    const { status, body } = toApiError(error);
    // The body is never buffered or parsed: once the answer is sent, Node discards the rest of the request.
    res.status(status).json(body);
  };
  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const key = presentedKey(req);
    if (!key) return next();
    try {
      refuseThrottledAddress(failures, clientAddress(req), res);
    } catch (error) {
      return refuse(res, error);
    }
    if (!limiter?.preview) return next();
    const preview = limiter.preview.bind(limiter);
    Promise.resolve(keys.resolve(key)).then(
      (principal) => {
        if (!principal) return next();
        try {
          applyRateLimitDecision(res, preview(principal));
        } catch (error) {
          return refuse(res, error);
        }
        next();
      },
      (error: unknown) => next(error),
    );
  };
}

/** Mounts the tracking body reader; call from the app's HTTP setup, before Nest registers its body parsers. */
export function captureTrackingBody(app: INestApplication): void {
  app.use(
    TRACKING_PATHS,
    refuseThrottledEarly(
      app.get<WorkspaceKeyResolver>(WORKSPACE_KEYS),
      app.get<CredentialRateLimiter | undefined>(RATE_LIMITER, { strict: false }),
      app.get<AuthFailureThrottle | undefined>(AUTH_FAILURES, { strict: false }),
    ),
    trackingBodyReader,
  );
}
