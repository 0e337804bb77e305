import { Injectable } from '@nestjs/common';
import { v5 as uuidv5 } from 'uuid';
import { Topics, type LeadCaptured } from '@tributary/contracts';
import { EventPublisher, originMetadata } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';

// Fixed namespace: the same person in the same workspace gets the same leadId from every channel and replica.
const LEAD_NAMESPACE = '2b0f3c51-6d0e-4f6c-9a3e-5a7c1e4b8d90';

/** A lead as any channel (form, CRM webhook, shop webhook) hands it over, before it becomes an event. */
export interface LeadToCapture {
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  consents: Record<string, boolean>;
  /** form, hubspot, shopify */
  source: string;
  externalId: string | null;
  formId: string | null;
  rawFields: unknown;
  occurredAt: number;
}

/** How a capture is made idempotent: its deterministic event id and the dedupe marker of its delivery. */
export interface CaptureOnce {
  eventId: string;
  scope: string;
  deliveryId: string;
}

export interface CaptureResult {
  eventId: string;
  leadId: string;
  duplicate: boolean;
}

/** Stable id of a person in a workspace: by normalised email when known, else by their id in the source. */
export function leadIdOf(
  workspaceId: string,
  lead: Pick<LeadToCapture, 'email' | 'source' | 'externalId'>,
): string {
  const identity = lead.email ? `email:${lead.email}` : `${lead.source}:${lead.externalId ?? ''}`;
  return uuidv5(`${workspaceId}/${identity}`, LEAD_NAMESPACE);
}

/** Kafka key of a lead: the normalised email, so one person's captures stay in order. */
export function leadKeyOf(lead: Pick<LeadToCapture, 'email' | 'source' | 'externalId'>): string {
  return lead.email ?? `${lead.source}:${lead.externalId ?? ''}`;
}

export function buildLeadCaptured(
  workspaceId: string,
  lead: LeadToCapture,
  eventId: string | undefined,
  capturedAt: number,
): LeadCaptured {
  return {
    metadata: originMetadata({
      workspaceId,
      source: lead.source === 'form' ? 'ingestion' : `ingestion:${lead.source}`,
      occurredAt: lead.occurredAt,
      eventId,
    }),
    leadId: leadIdOf(workspaceId, lead),
    email: lead.email,
    firstName: lead.firstName,
    lastName: lead.lastName,
    company: lead.company,
    consents: lead.consents,
    source: lead.source,
    externalId: lead.externalId,
    formId: lead.formId,
    rawFieldsJson: JSON.stringify(lead.rawFields ?? {}),
    capturedAt,
  };
}

/** Publishes `leads.captured` for every channel; with `once`, a retried delivery is published a single time. */
@Injectable()
export class LeadCapture {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly processed: ProcessedEvents,
  ) {}

  /** Resolves once Kafka acknowledged the event (acks=all), or at once for a delivery already published. */
  async capture(workspaceId: string, lead: LeadToCapture, once?: CaptureOnce): Promise<CaptureResult> {
    const event = buildLeadCaptured(workspaceId, lead, once?.eventId, Date.now());
    const publish = () =>
      this.publisher.publish({ topic: Topics.LeadsCaptured, key: leadKeyOf(lead), event });
    const result = { eventId: event.metadata.eventId, leadId: event.leadId };
    if (!once) {
      await publish();
      return { ...result, duplicate: false };
    }
    const outcome = await this.processed.once(once.scope, once.deliveryId, publish);
    return { ...result, duplicate: !outcome.applied };
  }
}
