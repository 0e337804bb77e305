import type { Request } from 'express';
import type { RequestCost } from '@tributary/access';
import type { TrackingRequest } from './tracking-body';

/**
 * What a tracking request spends of its workspace's event and byte allowances, known before it is handled (the body
 * reader ran before the guard): a batch spends one event per item, good or bad (a bad one still goes to
 * `ingestion.rejected`), a single call one; bytes as read after gzip. Other routes spend only a request.
 */
export function trackingCost(request: Request): RequestCost | undefined {
  const body = (request as TrackingRequest).trackingBody;
  if (!body) return undefined;
  if (!body.ok) return { events: 0, bytes: body.raw.length };
  const batch = (body.json as { batch?: unknown } | null)?.batch;
  return { events: Array.isArray(batch) ? batch.length : 1, bytes: body.raw.length };
}
