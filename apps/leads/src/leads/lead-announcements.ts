/**
 * The events the lead pipeline announces. Every id derives from the cause, so a redelivery announces the same
 * events again, never new ones.
 */
import { Topics, type EventMetadata, type LeadScored, type TrackingEvent } from '@tributary/contracts';
import { causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import type { ContactAttributes } from '../contacts/contact-attributes';
import type { ContactDoc, EnrichmentState, StageChange } from '../contacts/contact.model';
import type { LifecycleStage } from '../lifecycle/lifecycle';
import type { ContactScore } from '../models/scoring-engine';
import { LEADS_EVENT_SOURCE } from '../event-source';

/** `leads.scored` for a contact, caused by `cause`: the same event whichever path scored it. */
export function scoredAnnouncement(input: {
  contactId: string;
  cause: EventMetadata;
  result: ContactScore;
  version: number;
  previousScore: number;
  trigger: string;
  enrichmentState: EnrichmentState;
  /** Who the contact is as scored: journeys downstream personalise, branch and send on it. */
  profile: { attributes?: ContactAttributes; stage?: LifecycleStage | null };
  /** The tracking calls this score applied (none for captures, rescores, enrichment). */
  events?: readonly TrackingEvent[];
}): OutgoingEvent {
  const { contactId, result } = input;
  return {
    topic: Topics.LeadsScored,
    key: contactId,
    event: {
      metadata: causedMetadata(input.cause, LEADS_EVENT_SOURCE, 'lead-scored'),
      contactId,
      score: result.total,
      previousScore: input.previousScore,
      breakdown: result.breakdown.map((line) => ({ ...line })),
      fitScore: result.fit,
      engagementScore: result.engagement,
      modelVersion: input.version,
      trigger: input.trigger,
      enrichmentState: input.enrichmentState,
      stage: input.profile.stage ?? null,
      attributes: attributeStrings(input.profile.attributes),
      events: (input.events ?? []).map(scoredEventOf),
    },
  };
}

/** Attributes as the topic's string map: numbers and flags as their text, unknown ones left out. */
function attributeStrings(attributes: ContactAttributes | undefined): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes ?? {}))
    if (value !== undefined && value !== null) strings[name] = String(value);
  return strings;
}

function scoredEventOf(event: TrackingEvent): LeadScored['events'][number] {
  return {
    eventId: event.metadata.eventId,
    callType: event.callType,
    name: event.event ?? event.name ?? null,
    propertiesJson: event.propertiesJson,
    occurredAt: event.timestamp,
  };
}

/** A stage move caused by `cause`, with the id of the `lifecycle.changed` that announces it (derived from the cause). */
export function stageChangeOf(
  from: LifecycleStage | null,
  move: { to: LifecycleStage; reason: string },
  cause: EventMetadata,
  at: Date,
): { entry: StageChange; metadata: EventMetadata } {
  const metadata = causedMetadata(cause, LEADS_EVENT_SOURCE, `lifecycle/${move.to}`);
  return {
    entry: {
      from,
      to: move.to,
      reason: move.reason,
      at,
      eventId: metadata.eventId,
      causeEventId: cause.eventId,
    },
    metadata,
  };
}

/** `lifecycle.changed` for a recorded move; without `metadata`, rebuilt from the entry (a redelivery's re-announcement). */
export function lifecycleAnnouncement(
  contact: Pick<ContactDoc, '_id' | 'workspaceId'>,
  change: StageChange,
  score: number,
  metadata?: EventMetadata,
): OutgoingEvent {
  return {
    topic: Topics.LifecycleChanged,
    key: contact._id,
    event: {
      metadata: metadata ?? {
        eventId: change.eventId,
        occurredAt: new Date(change.at).getTime(),
        workspaceId: contact.workspaceId,
        source: LEADS_EVENT_SOURCE,
        correlationId: change.causeEventId,
        causationId: change.causeEventId,
      },
      contactId: contact._id,
      from: change.from,
      to: change.to,
      reason: change.reason,
      score,
    },
  };
}
