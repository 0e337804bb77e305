import type { TrackingEvent } from '@tributary/contracts';
import { clientEventId } from '@tributary/messaging';
import { correctedTimestamp, DEFAULT_MAX_FUTURE_SKEW_MS, type SegmentCall } from './segment-calls';

/** A call with its (client-supplied or assigned) messageId, ready to become a TrackingEvent. */
export type IdentifiedCall = SegmentCall & { messageId: string };

const json = (value: Record<string, unknown> | undefined): string | null =>
  value === undefined ? null : JSON.stringify(value);

const time = (iso: string | undefined): number | null => (iso === undefined ? null : Date.parse(iso));

/** The eventId of a workspace's tracking call: UUIDv5 of (workspace, messageId), the same for every retry. */
export function trackingEventId(workspaceId: string, messageId: string): string {
  return clientEventId(workspaceId, 'tracking', messageId);
}

/**
 * Maps a validated Segment call to its `tracking.events` record. The eventId is derived from (workspace, messageId)
 * so a client retry the edge did not catch (e.g. a crash between Kafka's ack and the dedupe mark) carries the same
 * eventId, and consumers' dedupe absorbs it. `timestamp` is the corrected time, at most `maxFutureSkewMs` after
 * `receivedAt`; the client's own time stays in `originalTimestamp` (and `sentAt`).
 */
export function toTrackingEvent(
  workspaceId: string,
  call: IdentifiedCall,
  receivedAt: number,
  correlationId?: string,
  maxFutureSkewMs = DEFAULT_MAX_FUTURE_SKEW_MS,
  eventId = trackingEventId(workspaceId, call.messageId),
): TrackingEvent {
  const timestamp = correctedTimestamp(call, receivedAt, maxFutureSkewMs);
  const properties = 'properties' in call ? call.properties : undefined;
  const traits = 'traits' in call ? call.traits : undefined;
  return {
    metadata: {
      eventId,
      occurredAt: timestamp,
      workspaceId,
      source: 'ingestion',
      correlationId: correlationId ?? eventId,
      causationId: null,
    },
    callType: call.type,
    messageId: call.messageId,
    userId: call.userId ?? null,
    anonymousId: call.anonymousId ?? null,
    event: call.type === 'track' ? call.event : null,
    propertiesJson: JSON.stringify(properties ?? {}),
    contextJson: JSON.stringify(call.context ?? {}),
    timestamp,
    receivedAt,
    previousId: call.type === 'alias' ? call.previousId : null,
    groupId: call.type === 'group' ? call.groupId : null,
    name: call.type === 'page' || call.type === 'screen' ? (call.name ?? null) : null,
    category: call.type === 'page' ? (call.category ?? null) : null,
    traitsJson: json(traits),
    integrationsJson: json(call.integrations),
    sentAt: time(call.sentAt),
    originalTimestamp: time(call.originalTimestamp ?? call.timestamp),
  };
}

/** Partition key: the contact, so one person's calls stay in order (alias: the surviving userId). */
export function contactKeyOf(call: IdentifiedCall): string {
  return call.userId ?? call.anonymousId ?? call.messageId;
}
