/**
 * Routing's decisions, pure: who gets a lead, what a decided, breached, accepted, recycled or reopened assignment
 * looks like, which events it announces. The router, the batch path and the sweeper apply these answers with
 * conditional writes (the batch path's own are in batch-decisions.ts).
 */
import { randomUUID } from 'node:crypto';
import { Topics, type LeadAccepted, type LeadAssigned, type LeadSlaBreached } from '@tributary/contracts';
import { causedMetadata } from '@tributary/messaging';
import { LEADS_EVENT_SOURCE } from '../event-source';
import { FALLBACK_RULE_ID, chooseTeam, teamOf, type RoutingTeam } from './routing-rules';
import type { RoutingRulesVersion } from './routing-rules.store';
import type { AssignmentDoc, AssignmentReason, OutboxEntry } from './routing.model';
import type { AcceptStatus, Assignment, RoutingRequest } from './routing.types';

/** Cause and recycle ids remembered per lead: a redelivery older than this many later causes could open a round. */
export const MAX_REMEMBERED_CAUSES = 100;

/** The capacity hold assignment `n` of a lead takes on its owner. */
export const holdIdOf = (contactId: string, n: number): string => `${contactId}#${n}`;
/** An owner's load (open-lead count) in a workspace. */
export const loadIdOf = (workspaceId: string, ownerId: string): string => `${workspaceId}:${ownerId}`;

/** Who a lead's assignment goes to is chosen among `team` at round-robin position `ticket`. */
export interface RoutingChoice {
  team: RoutingTeam;
  ruleId: string;
  rules: RoutingRulesVersion;
  ticket: number;
}

/** A decided assignment: the fields it sets and the events it queues in its outbox. */
export interface Decision {
  set: Partial<AssignmentDoc>;
  outbox: OutboxEntry[];
}

/** An accept decided: the fields it sets and its `leads.accepted`, queued in the outbox. */
export interface Acceptance extends Decision {
  event: LeadAccepted;
}

/** Capacity taken for a hold, to give back if the decision that took it is not recorded. */
export interface Reservation {
  workspaceId: string;
  ownerId: string;
  holdId: string;
}

/** A round's fields before routing: nobody chosen, nothing announced, routing under a fresh lease of `leaseMs`. */
function freshRound(input: RoutingRequest, now: Date, leaseMs: number) {
  const { country, region, companySize } = input.attributes;
  return {
    state: 'routing' as const,
    ownerId: null,
    previousOwnerId: null,
    teamId: null,
    ruleId: null,
    rulesVersion: null,
    ticket: null,
    routingAttributes: {
      ...(country === undefined ? {} : { country }),
      ...(region === undefined ? {} : { region }),
      ...(companySize === undefined ? {} : { companySize }),
    },
    cause: input.cause,
    metadata: null,
    assignedAt: null,
    acceptDueAt: null,
    acceptedAt: null,
    closedAt: null,
    queuedAt: null,
    recycledAt: null,
    breach: null,
    leaseToken: randomUUID(),
    leaseUntil: new Date(now.getTime() + leaseMs),
    updatedAt: now,
  };
}

/** The claim of a lead's first assignment: routing under a fresh lease of `leaseMs`, nobody chosen yet. */
export function firstAssignment(input: RoutingRequest, now: Date, leaseMs: number): AssignmentDoc {
  return {
    ...freshRound(input, now, leaseMs),
    _id: input.contactId,
    workspaceId: input.workspaceId,
    n: 1,
    round: 1,
    causeIds: [input.cause.eventId],
    recycleIds: [],
    final: false,
    reason: 'routed',
    outbox: [],
    pending: false,
    createdAt: now,
  };
}

export function toAssignment(doc: AssignmentDoc): Assignment {
  return {
    contactId: doc._id,
    workspaceId: doc.workspaceId,
    state: doc.state,
    ownerId: doc.ownerId ?? null,
    teamId: doc.teamId ?? null,
    ruleId: doc.ruleId ?? null,
    reason: doc.reason,
    previousOwnerId: doc.previousOwnerId ?? null,
    assignmentNumber: doc.n,
    round: doc.round ?? 1,
    rulesVersion: doc.rulesVersion ?? null,
    assignedAt: doc.assignedAt ?? null,
    acceptDueAt: doc.acceptDueAt ?? null,
    acceptedAt: doc.acceptedAt ?? null,
    closedAt: doc.closedAt ?? null,
    queuedAt: doc.queuedAt ?? null,
    recycledAt: doc.recycledAt ?? null,
  };
}

/** What `assign` answers: null while the workspace has no rules (`unrouted`) or the lead was never up for routing. */
export function routedAssignment(doc: AssignmentDoc | null | undefined): Assignment | null {
  return doc && doc.state !== 'unrouted' ? toAssignment(doc) : null;
}

/** The owner who missed the SLA that started assignment `doc.n`, if it was started by one. */
export function missedOwnerOf(doc: AssignmentDoc): string | null {
  return doc.reason === 'sla-reassigned' || doc.reason === 'sla-renewed'
    ? (doc.previousOwnerId ?? null)
    : null;
}

/** `ids` with `more` appended once each, the oldest dropped beyond the bound. */
export function remember(ids: readonly string[] | undefined, ...more: string[]): string[] {
  const kept = [...(ids ?? [])];
  for (const id of more) if (!kept.includes(id)) kept.push(id);
  return kept.slice(-MAX_REMEMBERED_CAUSES);
}

/** Whether `assign` met this cause for the lead before (its redelivery must not open another round). */
export function causeSeen(doc: AssignmentDoc, causeId: string): boolean {
  return doc.cause.eventId === causeId || (doc.causeIds ?? []).includes(causeId);
}

/** A member other than `ownerId` who takes leads at all (capacity above 0; full or off shift now is fine). */
function hasOtherTaker(team: RoutingTeam, ownerId: string): boolean {
  return team.members.some((member) => member.ownerId !== ownerId && member.capacity > 0);
}

/**
 * The team that routes assignment `doc.n`, its rule, and who it must not go to. After a missed SLA the lead goes to
 * someone else in its team; a team with nobody else who takes leads hands it to the fallback team, and when that has
 * nobody else either it goes back to the owner who missed it (then nobody is excluded).
 */
export function routeOf(
  doc: AssignmentDoc,
  rules: RoutingRulesVersion,
): { team: RoutingTeam; ruleId: string; exclude: string | null } {
  const chosen = doc.teamId
    ? { teamId: doc.teamId, ruleId: doc.ruleId ?? FALLBACK_RULE_ID }
    : chooseTeam(rules.rules, doc.routingAttributes ?? {});
  let team = teamOf(rules.rules, chosen.teamId);
  const missed = missedOwnerOf(doc);
  let exclude = missed;
  if (missed && !hasOtherTaker(team, missed)) {
    const fallback = teamOf(rules.rules, rules.rules.fallbackTeamId);
    if (fallback.id !== team.id && hasOtherTaker(fallback, missed)) team = fallback;
    else exclude = null;
  }
  return { team, ruleId: team.id === chosen.teamId ? chosen.ruleId : FALLBACK_RULE_ID, exclude };
}

/** No routing rules in the workspace: recorded as unrouted, routed by a later `assign` once rules exist. */
export function unroutedDecision(now: Date): Decision {
  return { set: { state: 'unrouted', leaseToken: null, updatedAt: now }, outbox: [] };
}

/**
 * Assignment `doc.n` decided: to `ownerId`, with its `leads.assigned` (and the breach that started it, if one did)
 * in the outbox, or queued when nobody could take it (the breach still announced).
 */
export function decisionOf(
  doc: AssignmentDoc,
  choice: RoutingChoice,
  ownerId: string | null,
  now: Date,
  leaseMs: number,
): Decision {
  const common = {
    teamId: choice.team.id,
    ruleId: choice.ruleId,
    rulesVersion: choice.rules.version,
    ticket: choice.ticket,
    breach: null,
    updatedAt: now,
  };
  const breach = doc.breach;
  if (!ownerId) {
    const outbox: OutboxEntry[] = breach
      ? [{ topic: Topics.LeadsSlaBreached, event: { ...breach, reassignedTo: null } }]
      : [];
    return {
      set: {
        ...common,
        state: 'queued',
        queuedAt: doc.queuedAt ?? now,
        ...(outbox.length > 0 ? { pending: true } : { leaseToken: null }),
      },
      outbox,
    };
  }
  const missed = missedOwnerOf(doc);
  const acceptDueAt = new Date(now.getTime() + choice.rules.rules.acceptWithinMinutes * 60_000);
  const reason: AssignmentReason = missed && ownerId === missed ? 'sla-renewed' : doc.reason;
  const assigned: LeadAssigned = {
    metadata: causedMetadata(doc.cause, LEADS_EVENT_SOURCE, `lead-assigned/${doc.n}`, now.getTime()),
    contactId: doc._id,
    ownerId,
    teamId: common.teamId,
    ruleId: common.ruleId,
    reason,
    previousOwnerId: doc.previousOwnerId ?? null,
    assignedAt: now.getTime(),
    acceptDueAt: acceptDueAt.getTime(),
  };
  return {
    set: {
      ...common,
      state: 'assigned',
      reason,
      ownerId,
      metadata: assigned.metadata,
      assignedAt: now,
      acceptDueAt,
      pending: true,
      leaseUntil: new Date(now.getTime() + leaseMs),
    },
    outbox: [
      ...(breach
        ? [{ topic: Topics.LeadsSlaBreached, event: { ...breach, reassignedTo: ownerId } } as const]
        : []),
      { topic: Topics.LeadsAssigned, event: assigned },
    ],
  };
}

/** A decision lost its lease: whoever took over may have adopted its hold (routing) or recorded it (same owner). */
export function isAdopted(current: AssignmentDoc | null, reservation: Reservation): boolean {
  return (
    current !== null &&
    holdIdOf(current._id, current.n) === reservation.holdId &&
    current.state !== 'closed' &&
    current.state !== 'recycled' &&
    (current.state === 'routing' || current.ownerId === reservation.ownerId)
  );
}

/** The breach of an assignment past its SLA, and assignment n + 1 it starts (routing, under a fresh lease). */
export function breachOf(
  doc: AssignmentDoc,
  now: Date,
  leaseMs: number,
): { breach: Omit<LeadSlaBreached, 'reassignedTo'>; set: Partial<AssignmentDoc> } | null {
  if (!doc.ownerId || !doc.metadata || !doc.assignedAt || !doc.acceptDueAt || !doc.teamId) return null;
  const breach: Omit<LeadSlaBreached, 'reassignedTo'> = {
    metadata: causedMetadata(doc.metadata, LEADS_EVENT_SOURCE, `lead-sla-breached/${doc.n}`, now.getTime()),
    contactId: doc._id,
    ownerId: doc.ownerId,
    teamId: doc.teamId,
    assignedAt: doc.assignedAt.getTime(),
    acceptDueAt: doc.acceptDueAt.getTime(),
    breachedAt: now.getTime(),
  };
  const set: Partial<AssignmentDoc> = {
    state: 'routing',
    n: doc.n + 1,
    reason: 'sla-reassigned',
    previousOwnerId: doc.ownerId,
    ownerId: null,
    ticket: null,
    cause: breach.metadata,
    metadata: null,
    assignedAt: null,
    acceptDueAt: null,
    queuedAt: null,
    breach,
    leaseToken: randomUUID(),
    leaseUntil: new Date(now.getTime() + leaseMs),
    updatedAt: now,
  };
  return { breach, set };
}

/** Round + 1 of a recycled lead, caused by `input`: routing under a fresh lease, everything of the old round reset. */
export function nextRoundOf(
  doc: AssignmentDoc,
  input: RoutingRequest,
  now: Date,
  leaseMs: number,
): Partial<AssignmentDoc> & { round: number } {
  return {
    ...freshRound(input, now, leaseMs),
    round: (doc.round ?? 1) + 1,
    n: doc.n + 1,
    reason: 'requalified',
  };
}

/** A recycle that changes nothing: the lead is closed for good, was never routed, or met this recycle already. */
export function recycleIsNoOp(doc: AssignmentDoc, causeId: string): boolean {
  return doc.final === true || doc.state === 'unrouted' || (doc.recycleIds ?? []).includes(causeId);
}

/** The current round of `doc` ended by the recycle `causeId`. */
export function recycledSetOf(doc: AssignmentDoc, causeId: string, now: Date): Partial<AssignmentDoc> {
  return {
    state: 'recycled',
    recycledAt: now,
    closedAt: doc.closedAt ?? now,
    leaseToken: null,
    recycleIds: remember(doc.recycleIds, causeId),
    updatedAt: now,
  };
}

/**
 * Assignment `doc.n` accepted at `acceptedAt` by its owner (`ownerId`, when given, must be it), with its
 * `leads.accepted` in the outbox under an id derived from the assignment's `leads.assigned`: the same `acceptedAt`
 * gives the same event, so whoever finishes an accept someone else claimed announces theirs. The outbox is the
 * accepting router's to publish until `leaseUntil`, then the sweep's. Null when the lead is not assigned (to them).
 */
export function acceptanceOf(
  doc: AssignmentDoc,
  ownerId: string | undefined,
  acceptedAt: Date,
  leaseUntil: Date,
): Acceptance | null {
  if (doc.state !== 'assigned' || (ownerId !== undefined && doc.ownerId !== ownerId)) return null;
  if (!doc.ownerId || !doc.teamId || !doc.metadata || !doc.assignedAt) return null;
  const event: LeadAccepted = {
    metadata: causedMetadata(
      doc.metadata,
      LEADS_EVENT_SOURCE,
      `lead-accepted/${doc.n}`,
      acceptedAt.getTime(),
    ),
    contactId: doc._id,
    ownerId: doc.ownerId,
    teamId: doc.teamId,
    assignedAt: doc.assignedAt.getTime(),
    acceptedAt: acceptedAt.getTime(),
  };
  return {
    set: { state: 'accepted', acceptedAt, pending: true, leaseUntil, updatedAt: acceptedAt },
    outbox: [{ topic: Topics.LeadsAccepted, event }],
    event,
  };
}

/**
 * Why an accept did not land on the lead as found (`doc`), or `retry` when it was assigned to that owner and
 * changed in between (a reassignment racing it) and attempts are left.
 */
export function acceptStatusOf(
  doc: AssignmentDoc | null,
  ownerId: string | undefined,
  lastAttempt: boolean,
): AcceptStatus | 'retry' {
  // A recycled lead's owner is the previous round's: nobody owns it until its next round.
  if (!doc?.ownerId || doc.state === 'recycled') return 'not-assigned';
  if (ownerId !== undefined && doc.ownerId !== ownerId) return 'wrong-owner';
  if (doc.acceptedAt) return 'already-accepted';
  return doc.state !== 'assigned' || lastAttempt ? 'not-assigned' : 'retry';
}

/** A lead as `close` leaves it (closed before or now; `final` never undone). */
export function closedOf(doc: AssignmentDoc, now: Date, final: boolean): AssignmentDoc {
  return { ...doc, state: 'closed', closedAt: doc.closedAt ?? now, ...(final ? { final: true } : {}) };
}

/**
 * What a recount does with an owner whose `open` is `open` and whose holds number `held`, given the mismatch its
 * previous recount saw: a mismatch is corrected only when seen twice the same (a reserve or release in flight lasts
 * milliseconds and changes the pair).
 */
export function recountVerdict(
  previous: { open: number; held: number } | undefined,
  open: number,
  held: number,
): 'balanced' | 'watch' | 'correct' {
  if (open === held) return 'balanced';
  return previous?.open === open && previous.held === held ? 'correct' : 'watch';
}
