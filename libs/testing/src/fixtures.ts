import { randomUUID } from 'node:crypto';
import type { LeadCaptured, LeadScored, TrackingEvent } from '@tributary/contracts';

/**
 * A valid `tracking.events` record for tests: a track call with fresh ids in workspace `ws_test`, every optional
 * field null; override what the test is about. `metadata` overrides merge into the default envelope.
 */
export function trackingEventFixture(
  overrides: Omit<Partial<TrackingEvent>, 'metadata'> & {
    metadata?: Partial<TrackingEvent['metadata']>;
  } = {},
): TrackingEvent {
  const { metadata, ...fields } = overrides;
  const eventId = randomUUID();
  const now = Date.now();
  return {
    metadata: {
      eventId,
      occurredAt: now,
      workspaceId: 'ws_test',
      source: 'test',
      correlationId: eventId,
      causationId: null,
      ...metadata,
    },
    callType: 'track',
    messageId: randomUUID(),
    userId: null,
    anonymousId: null,
    event: null,
    propertiesJson: '{}',
    contextJson: '{}',
    timestamp: now,
    receivedAt: now,
    previousId: null,
    groupId: null,
    name: null,
    category: null,
    traitsJson: null,
    integrationsJson: null,
    sentAt: null,
    originalTimestamp: null,
    ...fields,
  };
}

/**
 * A valid `leads.captured` record for tests: a form capture with fresh ids in workspace `ws_test`, optional fields
 * null; override what the test is about. `metadata` overrides merge into the default envelope.
 */
export function leadCapturedFixture(
  overrides: Omit<Partial<LeadCaptured>, 'metadata'> & { metadata?: Partial<LeadCaptured['metadata']> } = {},
): LeadCaptured {
  const { metadata, ...fields } = overrides;
  const eventId = randomUUID();
  return {
    metadata: {
      eventId,
      occurredAt: Date.now(),
      workspaceId: 'ws_test',
      source: 'test',
      correlationId: eventId,
      causationId: null,
      ...metadata,
    },
    leadId: randomUUID(),
    email: 'ada@example.com',
    firstName: null,
    lastName: null,
    company: null,
    consents: {},
    source: 'form',
    externalId: null,
    formId: null,
    rawFieldsJson: '{}',
    capturedAt: Date.now(),
    ...fields,
  };
}

/** A `leads.scored` record for tests: the contact's engagement is its whole score, nothing else known. */
export function leadScoredFixture(
  workspaceId: string,
  contactId: string,
  points: number,
  source = 'test',
  fields: Partial<LeadScored> = {},
): LeadScored {
  const eventId = randomUUID();
  return {
    metadata: {
      eventId,
      occurredAt: Date.now(),
      workspaceId,
      source,
      correlationId: eventId,
      causationId: null,
    },
    contactId,
    score: points,
    previousScore: 0,
    breakdown: [],
    fitScore: 0,
    engagementScore: points,
    modelVersion: 0,
    trigger: 'event',
    enrichmentState: 'none',
    stage: null,
    attributes: {},
    events: [],
    ...fields,
  };
}

/** A score of a contact who just did `event` (with `properties`), as the lead service announces it. */
export function leadScoredAfterEvent(
  workspaceId: string,
  contactId: string,
  event: string,
  attributes: Record<string, string>,
  properties: Record<string, unknown> = {},
): LeadScored {
  const scored = leadScoredFixture(workspaceId, contactId, 10, 'test', { attributes, stage: 'lead' });
  return {
    ...scored,
    events: [
      {
        eventId: `${scored.metadata.eventId}-e`,
        callType: 'track',
        name: event,
        propertiesJson: JSON.stringify(properties),
        occurredAt: Date.now(),
      },
    ],
  };
}
