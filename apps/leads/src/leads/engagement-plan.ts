import type { EventMetadata, TrackingEvent } from '@tributary/contracts';
import type { OutgoingEvent } from '@tributary/messaging';
import {
  MAX_FACTS,
  factsOf,
  newContact,
  packFact,
  type ContactDoc,
  type StoredFact,
} from '../contacts/contact.model';
import type { ContactWrite } from '../contacts/contact.repository';
import type { IdentityPlan, IdentityRef } from '../identity/identity-rules';
import { engagementFactOf, scoreContact, scoringInstant } from '../models/scoring-engine';
import type { VersionedScoringModel } from '../models/scoring-model.store';
import { scoredAnnouncement } from './lead-announcements';
import { attributesOfTraits } from './lead-profile';
import { isRescoreNeeded, scoreFieldsOf, type Scored } from './score-fields';

/** A tracking event that only adds an engagement fact, with the id it is about. */
export interface PlainEngagement {
  event: TrackingEvent;
  subject: IdentityRef;
}

/** An event that only adds an engagement fact: it links no ids and tells nothing about the person. */
export function isPlainEngagement(event: TrackingEvent, plan: IdentityPlan): boolean {
  return (
    plan.merges.length === 0 && plan.emailKey === null && Object.keys(attributesOfTraits(event)).length === 0
  );
}

/**
 * Plain events by the contact they are about, in order: the contact of the first of the subject's keys someone owns
 * (`owners`: key → contact), else the subject's own.
 */
export function groupByContact(
  plain: readonly PlainEngagement[],
  owners: ReadonlyMap<string, { contactId: string }>,
): Map<string, TrackingEvent[]> {
  const groups = new Map<string, TrackingEvent[]>();
  for (const { event, subject } of plain) {
    const key = subject.keys.find((candidate) => owners.has(candidate));
    const contactId = (key && owners.get(key)?.contactId) || subject.fallbackContactId;
    const group = groups.get(contactId);
    if (group) group.push(event);
    else groups.set(contactId, [event]);
  }
  return groups;
}

/** One contact's share of a tracking batch, scored: what it announces once written, and what to qualify. */
export interface PlannedEngagement {
  events: readonly TrackingEvent[];
  announce: OutgoingEvent;
  scored: Scored;
  cause: EventMetadata;
}

/** What one contact's share of a tracking batch is to write, or `retry`: its events take the one-event path. */
export type EngagementPlan =
  { kind: 'retry'; events: readonly TrackingEvent[] } | (PlannedEngagement & ContactWrite);

/**
 * One contact's new engagement facts and its new score, as one write: an insert for a new contact, else an update
 * of the revision read. A merged contact takes the one-event path. Facts already recorded (a redelivery) count once.
 */
export function planEngagement(input: {
  contactId: string;
  existing: ContactDoc | undefined;
  events: readonly TrackingEvent[];
  scoring: VersionedScoringModel;
  /** The latest time an event may claim (the clock plus the allowed skew). */
  latest: number;
  now: Date;
}): EngagementPlan {
  const { contactId, existing, events, latest, now } = input;
  const { version, model } = input.scoring;
  const first = events[0];
  const last = events[events.length - 1];
  if (!first || !last || existing?.mergedInto) return { kind: 'retry', events };
  const workspaceId = first.metadata.workspaceId;
  const known = new Set(existing?.factIds ?? []);
  const fresh: StoredFact[] = [];
  for (const event of events) {
    const fact = engagementFactOf(event, latest);
    if (known.has(fact.eventId)) continue;
    known.add(fact.eventId);
    fresh.push(fact);
  }
  const asOf = scoringInstant(
    events.map((event) => event.timestamp),
    latest,
  );
  const facts = [...factsOf(existing), ...fresh].slice(-MAX_FACTS);
  const result = scoreContact(model, existing?.attributes ?? {}, facts, asOf);
  const scoreFields = scoreFieldsOf(result, version);
  const newest = fresh[fresh.length - 1];
  // A redelivery after a crash between the MQL move and routing: route under the cause that made the move.
  const mqlCause = (existing?.stageHistory ?? []).find(
    (change) => change.to === 'mql' && events.some((event) => event.metadata.eventId === change.causeEventId),
  );
  const scored = {
    cause:
      events.find((event) => event.metadata.eventId === mqlCause?.causeEventId)?.metadata ?? last.metadata,
    scored: { total: result.total, mqlThreshold: model.mqlThreshold },
    announce: scoredAnnouncement({
      contactId,
      cause: last.metadata,
      result,
      version,
      previousScore: existing?.score ?? 0,
      trigger: 'event',
      enrichmentState: existing?.enrichment?.state ?? 'none',
      profile: { attributes: existing?.attributes, stage: existing?.stage },
      // Every call of the batch, fresh or not: a redelivery announces the same score again.
      events,
    }),
  };
  if (!existing) {
    const contact = newContact(contactId, workspaceId, now, {
      ...scoreFields,
      eventCount: fresh.length,
      lastRule: newest ? (newest.name ?? newest.callType) : '',
      facts: facts.map(packFact),
      factIds: facts.map((fact) => fact.eventId),
      scoredRevision: 1,
    });
    return { kind: 'insert', contact, events, ...scored };
  }
  if (fresh.length === 0 && !isRescoreNeeded(existing, version, result))
    return { kind: 'unchanged', contact: existing, events, ...scored };
  const revision = existing.revision + (fresh.length > 0 ? 1 : 0);
  // The bounded list as computed, not appended: the write replaces it on the revision read.
  const set: Partial<ContactDoc> = newest
    ? {
        ...scoreFields,
        scoredRevision: revision,
        updatedAt: now,
        lastRule: newest.name ?? newest.callType,
        facts: facts.map(packFact),
        factIds: facts.map((fact) => fact.eventId),
      }
    : { ...scoreFields, scoredRevision: revision, updatedAt: now };
  return {
    kind: 'update',
    readRevision: existing.revision,
    set,
    newFacts: fresh.length,
    // What the write leaves, fields others change without a revision (stage, owner) as read: a stale stage only
    // costs a conditional move that fails and re-reads.
    contact: { ...existing, ...set, revision, eventCount: existing.eventCount + fresh.length },
    events,
    ...scored,
  };
}
