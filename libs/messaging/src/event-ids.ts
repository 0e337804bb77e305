import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { EventMetadata } from '@tributary/contracts';

// Fixed namespace so derived ids are stable across services, replicas and restarts.
const TRIBUTARY_NAMESPACE = '6f1d5a0e-8a43-4c1f-9a55-3c8f1b0d2e71';

/**
 * Deterministic id for an event derived from another: a redelivered cause yields the same id, so downstream
 * dedupe sees the retry as the same event.
 */
export function derivedEventId(causeEventId: string, purpose: string): string {
  return uuidv5(`${causeEventId}/${purpose}`, TRIBUTARY_NAMESPACE);
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
