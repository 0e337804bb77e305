import type { AuditEntry, ContentEvent } from '@tributary/contracts';
import { fastUuidV5 } from '@tributary/messaging';
import type { ContentItemDoc, OutboxEntry } from './content.models';
import type { ContentAction, ContentStatus, DestinationState } from './content-workflow';

const SOURCE = 'orchestration';

/** What one workflow step says beyond the item it happened to. */
export interface StepFacts {
  action: ContentAction;
  /** The status before the step; null when it did not change (or the item is new). */
  from: ContentStatus | null;
  /** Who acted; null for the publisher (schedules, retries). */
  actor: string | null;
  /** Request id of the call that led to the step. */
  correlationId: string;
  /** The body version the step concerns. */
  version: number;
  title: string;
  destination?: DestinationState;
  reason?: string | null;
  /** What makes the step unique when not its revision (a comment: its id). */
  key?: string;
}

/**
 * A step as it goes on `content.events` and into the audit trail. Its id derives from the item, the revision the
 * step's write produced, the action and the destination, so a step announced again after a crash is the same event.
 */
export function contentStep(item: ContentItemDoc, revision: number, facts: StepFacts): OutboxEntry {
  const destination = facts.destination ?? null;
  const key = facts.key ?? `${revision}/${facts.action}/${destination?.name ?? ''}`;
  const eventId = fastUuidV5(`content/${item._id}/${key}`);
  const metadata = {
    eventId,
    occurredAt: Date.now(),
    workspaceId: item.workspaceId,
    source: SOURCE,
    correlationId: facts.correlationId,
    causationId: null,
  };
  const reason = facts.reason ?? destination?.lastError ?? null;
  const event: ContentEvent = {
    metadata,
    contentId: item.contentId,
    kind: item.kind,
    title: facts.title,
    action: facts.action,
    fromStatus: facts.from,
    status: item.status,
    version: facts.version,
    actorCredentialId: facts.actor,
    destination: destination?.name ?? null,
    remoteId: destination?.remoteId ?? null,
    remoteUrl: destination?.remoteUrl ?? null,
    reason,
    publishAt: item.publishAt ? item.publishAt.getTime() : null,
  };
  const audit: AuditEntry = {
    metadata,
    action: `content.${facts.action}`,
    actorCredentialId: facts.actor ?? 'content-publisher',
    actorWorkspaceId: facts.actor ? item.workspaceId : null,
    targetType: 'content_item',
    targetId: item.contentId,
    outcome: 'success',
    reason,
    requestId: facts.correlationId,
    detailsJson: JSON.stringify({
      status: item.status,
      fromStatus: facts.from,
      version: facts.version,
      ...(destination ? { destination: destination.name, remoteId: destination.remoteId } : {}),
      ...(item.publishAt ? { publishAt: item.publishAt.toISOString() } : {}),
    }),
  };
  return { seq: revision, event, audit };
}

/** An attempt the workflow refused (a self-approval), for the audit trail only: nothing changed, nothing to announce. */
export function refusedAttempt(
  item: ContentItemDoc,
  action: string,
  actor: string,
  reason: string,
  requestId: string,
  eventId: string,
): AuditEntry {
  return {
    metadata: {
      eventId,
      occurredAt: Date.now(),
      workspaceId: item.workspaceId,
      source: SOURCE,
      correlationId: requestId,
      causationId: null,
    },
    action: `content.${action}`,
    actorCredentialId: actor,
    actorWorkspaceId: item.workspaceId,
    targetType: 'content_item',
    targetId: item.contentId,
    outcome: 'denied',
    reason,
    requestId,
    detailsJson: JSON.stringify({ status: item.status, version: item.latestVersion }),
  };
}
