/**
 * The batch path's decisions, pure: the turns a batch takes in a team, its assignments as inserted already decided,
 * its announcement (the batch's outbox), and which announced leads to publish again after a crash.
 */
import { randomUUID } from 'node:crypto';
import { Topics, type LeadAssigned } from '@tributary/contracts';
import type { Decision } from './routing-decisions';
import { pickOwner, type RoutingMember } from './routing-rules';
import type { AssignmentDoc, RoutingAnnouncementDoc } from './routing.model';

/** The `leads.assigned` event of an assignment as decided (`decisionOf` stores every field of it). */
export function assignedEventOf(doc: AssignmentDoc): LeadAssigned {
  if (!doc.metadata || !doc.ownerId || !doc.teamId || !doc.ruleId || !doc.assignedAt || !doc.acceptDueAt)
    throw new Error(`assignment ${doc._id} #${doc.n} is not assigned`);
  return {
    metadata: doc.metadata,
    contactId: doc._id,
    ownerId: doc.ownerId,
    teamId: doc.teamId,
    ruleId: doc.ruleId,
    reason: doc.reason,
    previousOwnerId: doc.previousOwnerId ?? null,
    assignedAt: doc.assignedAt.getTime(),
    acceptDueAt: doc.acceptDueAt.getTime(),
  };
}

/**
 * A batch's picks in one team for turns `last - count + 1 .. last`, in order: each owner picked as that many
 * `assign` calls in a row would pick them (each pick counts on its owner's load). Undefined: nobody can take it now.
 */
export function planTurns(
  members: readonly RoutingMember[],
  last: number,
  count: number,
  loads: ReadonlyMap<string, number>,
  now: Date,
): { ticket: number; member: RoutingMember | undefined }[] {
  const counted = new Map(loads);
  return Array.from({ length: count }, (_, i) => {
    const ticket = last - count + 1 + i;
    const member = pickOwner(members, ticket - 1, counted, now);
    if (member) counted.set(member.ownerId, (counted.get(member.ownerId) ?? 0) + 1);
    return { ticket, member };
  });
}

/**
 * A first assignment as the batch inserts it, already decided: it queues nothing but its `leads.assigned`, which the
 * batch's announcement carries, so it lands with an empty outbox and without a lease.
 */
export function insertedAsDecided(claim: AssignmentDoc, decision: Decision): AssignmentDoc {
  const kept = decision.outbox.filter((entry) => entry.topic !== Topics.LeadsAssigned);
  return {
    ...claim,
    ...decision.set,
    outbox: kept,
    pending: kept.length > 0,
    ...(kept.length > 0 ? {} : { leaseToken: null }),
  };
}

/** A batch's announcement: what identifies each of its `leads.assigned` events, and those events. */
export function announcementOf(
  decided: readonly { contactId: string; decision: Decision }[],
  now: Date,
): { announcement: RoutingAnnouncementDoc; events: { contactId: string; event: LeadAssigned }[] } {
  const events = decided.flatMap(({ contactId, decision }) =>
    decision.outbox.flatMap((entry) =>
      entry.topic === Topics.LeadsAssigned ? [{ contactId, event: entry.event }] : [],
    ),
  );
  const leads = events.map(({ contactId, event }) => ({
    contactId,
    ownerId: event.ownerId,
    eventId: event.metadata.eventId,
  }));
  return { announcement: { _id: randomUUID(), leads, createdAt: now }, events };
}

/** Whether a lead of an announcement landed as the batch decided it (assignment 1, that owner, event and time). */
export function landedAsDecided(
  doc: AssignmentDoc | undefined,
  lead: RoutingAnnouncementDoc['leads'][number],
  decidedAt: Date,
): doc is AssignmentDoc {
  return (
    doc?.n === 1 &&
    doc.ownerId === lead.ownerId &&
    doc.metadata?.eventId === lead.eventId &&
    doc.assignedAt?.getTime() === decidedAt.getTime()
  );
}
