import { hash, randomUUID } from 'node:crypto';
import type { EventMetadata } from '@tributary/contracts';

// Fixed namespace so derived ids are stable across services, replicas and restarts.
const TRIBUTARY_NAMESPACE = '6f1d5a0e-8a43-4c1f-9a55-3c8f1b0d2e71';

/**
 * Deterministic id for an event derived from another: a redelivered cause yields the same id, so downstream
 * dedupe sees the retry as the same event.
 */
export function derivedEventId(causeEventId: string, purpose: string): string {
  // The same id `uuid`'s v5 gave (event-ids.spec checks both agree), without its per-call allocations.
  return fastUuidV5(`${causeEventId}/${purpose}`);
}

/**
 * Deterministic id for an event that enters at the edge with a client-supplied id (e.g. a Segment messageId):
 * a client retry yields the same eventId, so downstream dedupe absorbs a repeat the edge could not stop.
 */
export function clientEventId(workspaceId: string, scope: string, clientId: string): string {
  return fastUuidV5(`${workspaceId}/${scope}/${clientId}`);
}

const NAMESPACE_BYTES = Buffer.from(TRIBUTARY_NAMESPACE.replace(/-/g, ''), 'hex');
// Namespace then name, hashed in one call: no Hash object per id. Grown when a name does not fit.
let scratch = Buffer.alloc(4_096);
NAMESPACE_BYTES.copy(scratch);

/** RFC 4122 v5 under the Tributary namespace, same output as `uuid`'s v5 but several times cheaper (edge hot path). */
export function fastUuidV5(name: string): string {
  // A UTF-16 unit takes at most 3 bytes of UTF-8: an upper bound, without measuring the name.
  const room = NAMESPACE_BYTES.length + name.length * 3;
  if (room > scratch.length) {
    scratch = Buffer.alloc(room);
    NAMESPACE_BYTES.copy(scratch);
  }
  const written = scratch.write(name, NAMESPACE_BYTES.length, 'utf8');
  const digest = hash('sha1', scratch.subarray(0, NAMESPACE_BYTES.length + written), 'buffer');
  digest[6] = ((digest[6] ?? 0) & 0x0f) | 0x50;
  digest[8] = ((digest[8] ?? 0) & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Metadata for an event that starts a flow at the edge. */
export function originMetadata(input: {
  workspaceId: string;
  source: string;
  occurredAt?: number;
  eventId?: string;
  correlationId?: string;
}): EventMetadata {
  const eventId = input.eventId ?? randomUUID();
  return {
    eventId,
    occurredAt: input.occurredAt ?? Date.now(),
    workspaceId: input.workspaceId,
    source: input.source,
    correlationId: input.correlationId ?? eventId,
    causationId: null,
  };
}

/** Metadata for an event caused by another: same workspace and correlation, deterministic id. */
export function causedMetadata(
  cause: EventMetadata,
  source: string,
  purpose: string,
  occurredAt = Date.now(),
): EventMetadata {
  return {
    eventId: derivedEventId(cause.eventId, `${source}/${purpose}`),
    occurredAt,
    workspaceId: cause.workspaceId,
    source,
    correlationId: cause.correlationId,
    causationId: cause.eventId,
  };
}
