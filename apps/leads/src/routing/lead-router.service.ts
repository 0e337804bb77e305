import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Connection, Model, UpdateQuery } from 'mongoose';
import {
  Topics,
  type EventMetadata,
  type LeadAssigned,
  type LeadSlaBreached,
  type TopicEvents,
} from '@tributary/contracts';
import { EventPublisher, causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import {
  STORE_CONNECTION,
  findByIds,
  guardedUpserts,
  insertClaims,
  isDuplicateKey,
  isStoreUnavailable,
  type BatchCollection,
  type GuardedUpdate,
  type UpsertCollection,
} from '@tributary/store';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import type { ContactAttributes } from '../contacts/contact-attributes';
import {
  FALLBACK_RULE_ID,
  chooseTeam,
  pickOwner,
  teamOf,
  type RoutingMember,
  type RoutingTeam,
} from './routing-rules';
import { RoutingRulesStore, type RoutingRulesVersion } from './routing-rules.store';
import { routingConfigShape } from './routing.config';
import {
  assignmentModel,
  ownerLoadModel,
  routingAnnouncementModel,
  routingClaimModel,
  routingCursorModel,
  routingDueModel,
  routingHoldModel,
  dueEntriesOf,
  wakeAtOf,
  wakeBound,
  QUEUE_END,
  QUEUE_PREFIX,
  WAKE_PREFIX,
  type AssignmentDoc,
  type AssignmentReason,
  type AssignmentState,
  type OutboxEntry,
  type OwnerLoadDoc,
  type RoutingAnnouncementDoc,
  type RoutingClaimDoc,
  type RoutingCursorDoc,
  type RoutingDueDoc,
  type RoutingHoldDoc,
} from './routing.model';
import { LEADS_EVENT_SOURCE } from '../event-source';
import type { LeadRouting } from './lead-routing.port';

export type { AssignmentState, AssignmentReason } from './routing.model';

/** A lead's owner as the rest of the lead service (and the contacts API) sees it. */
export interface Assignment {
  contactId: string;
  workspaceId: string;
  /** `unrouted`: the workspace has no routing rules; `queued`: nobody can take it yet (see AssignmentState). */
  state: AssignmentState;
  ownerId: string | null;
  teamId: string | null;
  ruleId: string | null;
  reason: AssignmentReason;
  previousOwnerId: string | null;
  /** 1 for the first owner, +1 per SLA reassignment and per new round (never reused within a lead). */
  assignmentNumber: number;
  /** 1, +1 each time the lead was recycled and routed again; the assignment shown is the current round's. */
  round: number;
  rulesVersion: number | null;
  assignedAt: Date | null;
  acceptDueAt: Date | null;
  acceptedAt: Date | null;
  closedAt: Date | null;
  queuedAt: Date | null;
  /** When the current round was recycled (state `recycled`), else null. */
  recycledAt: Date | null;
}

export type AcceptStatus = 'accepted' | 'already-accepted' | 'not-assigned' | 'wrong-owner';

/** What one sweep did. */
export interface SweepReport {
  breached: number;
  /** Queued or interrupted leads that got an owner. */
  assigned: number;
  /** Outboxes and batch announcements a crash left unpublished: events published now. */
  republished: number;
  /** Owners' `open` counts a crash left off their holds, corrected now. */
  recounted: number;
  /** Due leads the reconciling scan found without their entry in the sweep's index (a write that half-failed). */
  rearmed: number;
}

/** Routing settings (from ROUTING_SWEEP_INTERVAL_MS, ROUTING_RECONCILE_INTERVAL_MS and LEADS_BACKGROUND_JOBS). */
export interface RoutingOptions {
  sweepIntervalMs: number;
  /**
   * How often a sweep also scans the assignments for due leads missing from its index (default 10 minutes; the
   * first sweep of a replica always does). Bounds how late such a lead is handled.
   */
  reconcileIntervalMs?: number;
  /** Sweep on the interval (default true); off in one-shot tools such as the rescore CLI. */
  sweep?: boolean;
  /** How long a claim or a sweep may work on one lead before another replica may take it over. */
  leaseMs?: number;
}

export const ROUTING_OPTIONS = Symbol('ROUTING_OPTIONS');

const DEFAULT_LEASE_MS = 30_000;
// Routers built without the service config (tests, tools) reconcile on the config's default.
const DEFAULT_RECONCILE_INTERVAL_MS = routingConfigShape.ROUTING_RECONCILE_INTERVAL_MS.parse(undefined);
/** Leads read per sweep query; the rest wait for the next tick so one tick stays short. */
export const SWEEP_BATCH = 200;
// Pages of queued leads per sweep, each without the teams the earlier ones found full.
const MAX_QUEUED_PAGES = 5;
// Pages of due wake-ups per sweep: most are of leads that moved on (accepted, routed), dropped a page at a time.
const MAX_WAKE_PAGES = 10;
/**
 * Owners whose `open` count each sweep checks against their holds, in turn: one per sweep, since each count reads
 * every hold (FerretDB serves no index but `_id`), and one `$group` over all holds stalled the routing of new leads
 * for hundreds of milliseconds. With 20 owners and a 5 s sweep, a drift is corrected within about 200 s.
 */
const RECOUNT_PER_SWEEP = 1;
// Bounded retries of an accept racing a reassignment of the same lead.
const MAX_ACCEPT_ATTEMPTS = 3;
// Bounded retries of a recycle racing another change of the same lead (a breach, a lost update on FerretDB).
const MAX_RECYCLE_ATTEMPTS = 3;
// Cause and recycle ids remembered per lead: a redelivery older than this many later causes could open a round.
export const MAX_REMEMBERED_CAUSES = 100;

/** The capacity hold of assignment `n` of a lead, as listed in its owner's load document. */
const holdIdOf = (contactId: string, n: number): string => `${contactId}#${n}`;
const loadIdOf = (workspaceId: string, ownerId: string): string => `${workspaceId}:${ownerId}`;

/** `units` more open leads on an owner, if they fit under the capacity; creates the load document if missing. */
const countUnder = (
  loadId: string,
  workspaceId: string,
  member: RoutingMember,
  units: number,
): GuardedUpdate => ({
  filter: { _id: loadId, open: { $lte: member.capacity - units } },
  update: { $inc: { open: units }, $set: { workspaceId, ownerId: member.ownerId } },
});

/** The `leads.assigned` event of an assignment as decided (`decisionOf` stores every field of it). */
function assignedEventOf(doc: AssignmentDoc): LeadAssigned {
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

function toAssignment(doc: AssignmentDoc): Assignment {
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

/** The owner who missed the SLA that started assignment `doc.n`, if it was started by one. */
function missedOwnerOf(doc: AssignmentDoc): string | null {
  return doc.reason === 'sla-reassigned' || doc.reason === 'sla-renewed'
    ? (doc.previousOwnerId ?? null)
    : null;
}

/** A member other than `ownerId` who takes leads at all (capacity above 0; full or off shift now is fine). */
function hasOtherTaker(team: RoutingTeam, ownerId: string): boolean {
  return team.members.some((member) => member.ownerId !== ownerId && member.capacity > 0);
}

/** `ids` with `more` appended once each, the oldest dropped beyond the bound. */
function remember(ids: readonly string[] | undefined, ...more: string[]): string[] {
  const kept = [...(ids ?? [])];
  for (const id of more) if (!kept.includes(id)) kept.push(id);
  return kept.slice(-MAX_REMEMBERED_CAUSES);
}

function outgoing(contactId: string, entry: OutboxEntry): OutgoingEvent {
  // Narrowed per topic so the publisher's topic → event typing holds.
  if (entry.topic === Topics.LeadsAssigned) {
    const event: TopicEvents[typeof Topics.LeadsAssigned] = entry.event;
    return { topic: Topics.LeadsAssigned, key: contactId, event };
  }
  return { topic: Topics.LeadsSlaBreached, key: contactId, event: entry.event };
}

/** Who a lead's assignment goes to is chosen among `team` at round-robin position `ticket`. */
interface RoutingChoice {
  team: RoutingTeam;
  ruleId: string;
  rules: RoutingRulesVersion;
  ticket: number;
}

/** A decided assignment: the fields it sets and the events it queues in its outbox. */
interface Decision {
  set: Partial<AssignmentDoc>;
  outbox: OutboxEntry[];
}

/** The decision as one conditional write (the outbox appended). */
function updateOf(decision: Decision): UpdateQuery<AssignmentDoc> {
  return {
    $set: decision.set,
    ...(decision.outbox.length > 0 ? { $push: { outbox: { $each: decision.outbox } } } : {}),
  };
}

/** Capacity taken for a hold, to give back if the decision that took it is not recorded. */
interface Reservation {
  workspaceId: string;
  ownerId: string;
  holdId: string;
}

/** A claimed lead of a batch, its team and turn, and the member chosen for it (none: nobody can take it now). */
interface BatchPick {
  claim: AssignmentDoc;
  choice: RoutingChoice;
  member: RoutingMember | undefined;
}

/** A batch lead's decision, inserted with its assignment, and the capacity to give back if someone inserted it first. */
interface BatchDecision {
  claim: AssignmentDoc;
  decision: Decision;
  reservation?: Reservation;
}

/** No routing rules in the workspace: recorded as unrouted, routed by a later `assign` once rules exist. */
function unroutedDecision(now: Date): Decision {
  return { set: { state: 'unrouted', leaseToken: null, updatedAt: now }, outbox: [] };
}

/** A lead to route, with what routing reads of it and the event that asks for it. */
export interface RoutingRequest {
  workspaceId: string;
  contactId: string;
  attributes: ContactAttributes;
  cause: EventMetadata;
}

/** The claim of a lead's first assignment: routing under a fresh lease of `leaseMs`, nobody chosen yet. */
export function firstAssignment(input: RoutingRequest, now: Date, leaseMs: number): AssignmentDoc {
  const { country, region, companySize } = input.attributes;
  return {
    _id: input.contactId,
    workspaceId: input.workspaceId,
    state: 'routing',
    n: 1,
    round: 1,
    causeIds: [input.cause.eventId],
    recycleIds: [],
    recycledAt: null,
    final: false,
    reason: 'routed',
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
    breach: null,
    leaseToken: randomUUID(),
    leaseUntil: new Date(now.getTime() + leaseMs),
    outbox: [],
    pending: false,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Gives each lead exactly one owner by the workspace's routing rules, and enforces the accept SLA.
 *
 * Store round trips of a first assignment (FerretDB answers `_id` operations quickly, everything else scans):
 *   1. in parallel: read the rules head (`_id`) ‖ claim the lead: insert `lead_assignments._id = contactId` with a
 *      lease (E11000: someone else owns the claim; their assignment is returned, or finished when their lease ran
 *      out, never a second owner);
 *   2. in parallel: `$inc` the team's round-robin cursor ‖ read the members' open-lead counts (`_id $in`);
 *   3. reserve capacity: insert the hold `routing_holds._id = <contactId>#<n>`, then one conditional `$inc` of the
 *      owner's load (`open < capacity`; refused → the hold deleted, next member in round-robin order);
 *   4. record the decision and the `leads.assigned` event (outbox) in one conditional write on the lease;
 *   5. publish the outbox (Kafka), then 6. clear it.
 * Eight store round trips in six sequential steps, plus the publish (`assignMany` routes a batch in a few per
 * batch, and inserts each assignment already decided). A crash after 4 leaves the outbox, which a redelivery or the
 * sweeper publishes under the same eventId; a crash before it leaves a lease that expires and is
 * taken over (a capacity hold it left is adopted, not counted twice). Nobody eligible (capacity, working hours) →
 * `queued`, and the sweeper retries with the same cursor position. Exactly one owner rests on the conditional
 * decision write: only the lease holder can record one.
 *
 * Every other exactly-once decision starts with an insert claim too (`routing_claims`), because FerretDB 1.24 as
 * released lets two conditional updates of one document both win (our patch fixes that, the design does not rely
 * on it): a breach claims `<contactId>#breach-<n>`, the next round of a
 * recycled lead `<contactId>#round-<round>`, and a recycle its cause (`<contactId>#recycle:<eventId>`).
 */
@Injectable()
export class LeadRouter implements LeadRouting, OnApplicationBootstrap, OnModuleDestroy {
  private readonly assignments: Model<AssignmentDoc>;
  private readonly claims: Model<RoutingClaimDoc>;
  private readonly cursors: Model<RoutingCursorDoc>;
  private readonly loads: Model<OwnerLoadDoc>;
  private readonly holds: Model<RoutingHoldDoc>;
  private readonly announcements: Model<RoutingAnnouncementDoc>;
  private readonly due: Model<RoutingDueDoc>;
  /** When this replica's sweep last scanned the assignments for due leads missing from the index (0: never). */
  private reconciledAt = 0;
  /** Each load's mismatch (`open` vs holds) at its last recount: corrected only when the next one sees the same. */
  private readonly mismatches = new Map<string, { open: number; held: number }>();
  /** The last load the sweep's recount reached (`_id` order); the next sweep goes on after it. */
  private recountAfter = '';
  /** Announcements published and not yet deleted, deleted together off the batches' path (see `announce`). */
  private spent: string[] = [];
  private deleting: Promise<void> | undefined;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    @Inject(STORE_CONNECTION) connection: Connection,
    private readonly publisher: EventPublisher,
    private readonly rules: RoutingRulesStore,
    @Inject(ROUTING_OPTIONS) private readonly options: RoutingOptions,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.assignments = assignmentModel(connection);
    this.claims = routingClaimModel(connection);
    this.cursors = routingCursorModel(connection);
    this.loads = ownerLoadModel(connection);
    this.holds = routingHoldModel(connection);
    this.announcements = routingAnnouncementModel(connection);
    this.due = routingDueModel(connection);
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  onApplicationBootstrap(): void {
    if (this.options.sweep === false) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops sweeping and waits for a sweep in flight, before the store and the producer close. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.deleting;
  }

  /**
   * Routes a lead to an owner, once: a redelivery, a second replica or a retry after a crash gets the same
   * assignment back (and the same `leads.assigned` eventId). Null when the workspace has no routing rules: the lead
   * is recorded as `unrouted` and is routed by its next `assign` once rules exist. A `queued` assignment (nobody
   * eligible now) is finished by the sweeper. A `recycled` lead is routed again (a new round) by a cause it has not
   * seen before; a `closed` one never again.
   */
  async assign(input: RoutingRequest): Promise<Assignment | null> {
    const now = new Date();
    const claim = firstAssignment(input, now, this.leaseMs);
    const [rules, claimed] = await Promise.all([
      this.rules.current(input.workspaceId),
      this.assignments.collection.insertOne(claim as never).then(
        () => true,
        (error: unknown) => {
          if (isDuplicateKey(error)) return false;
          throw error;
        },
      ),
      // The sweep takes the lead over when the lease runs out, should this router stop before deciding.
      this.arm(dueEntriesOf(claim)),
    ]);
    const doc = claimed ? await this.route(claim, rules, now) : await this.resume(input, rules, now);
    return doc && doc.state !== 'unrouted' ? toAssignment(doc) : null;
  }

  /**
   * Routes several leads with the results `assign` gives each in turn, in a few store commands per batch: one read
   * of which leads have an assignment already (none when the caller just created them: `newContacts`) beside the
   * rules of each workspace (cached); per team one cursor move for all its leads and one read of its members' loads;
   * one insert of all capacity holds and one guarded count of all chosen owners, beside one insert of the batch's
   * announcement (its `leads.assigned` events); one insert of all assignments, already decided; one produce. The
   * announcement is deleted afterwards, with other batches'.
   *
   * The insert is the claim, as in `assign`, only made after the decision: a lead someone inserted meanwhile (another
   * replica, the one-lead path) gives back the capacity it reserved unless that lead took this very hold, and is
   * resumed. A lead that had an assignment before (a redelivery, a repeat in the batch) is resumed as `assign`
   * resumes it, afterwards and in input order; a lead whose owner's load changed under the batch is inserted as a
   * plain claim and routed on its own (its lease and turn already taken).
   */
  async assignMany(
    inputs: readonly RoutingRequest[],
    { newContacts = false }: { newContacts?: boolean } = {},
  ): Promise<(Assignment | null)[]> {
    if (inputs.length < 2) return Promise.all(inputs.map((input) => this.assign(input)));
    const now = new Date();
    const workspaces = [...new Set(inputs.map((input) => input.workspaceId))];
    const [known, rules] = await Promise.all([
      // Contacts created just now have no assignment; should one have it after all, its insert below says so.
      newContacts
        ? new Map<string, AssignmentDoc>()
        : findByIds(
            this.assignmentCollection,
            inputs.map((input) => input.contactId),
            { _id: 1 },
          ),
      Promise.all(workspaces.map(async (ws) => [ws, await this.rules.current(ws)] as const)),
    ]);
    const rulesOf = new Map(rules);
    const fresh = new Map<string, AssignmentDoc>();
    for (const input of inputs)
      if (!known.has(input.contactId) && !fresh.has(input.contactId))
        fresh.set(input.contactId, firstAssignment(input, now, this.leaseMs));
    const routed = await this.routeFresh([...fresh.values()], rulesOf, now);
    const results: (Assignment | null)[] = [];
    const answered = new Set<string>();
    for (const input of inputs) {
      const first = !answered.has(input.contactId);
      answered.add(input.contactId);
      // Not ours (or a repeat): whatever the lead's assignment is now, finished if left half-way.
      const doc =
        first && routed.has(input.contactId)
          ? routed.get(input.contactId)
          : await this.resume(input, rulesOf.get(input.workspaceId) ?? null, new Date());
      results.push(doc && doc.state !== 'unrouted' ? toAssignment(doc) : null);
    }
    return results;
  }

  /**
   * Leads without an assignment, decided together and inserted decided (see `assignMany`); by contact id. A lead
   * missing from the result was inserted by someone else first.
   */
  private async routeFresh(
    claims: readonly AssignmentDoc[],
    rulesOf: ReadonlyMap<string, RoutingRulesVersion | null>,
    now: Date,
  ): Promise<Map<string, AssignmentDoc | null>> {
    const decided: BatchDecision[] = [];
    const teams = new Map<string, { team: RoutingTeam; rules: RoutingRulesVersion; leads: BatchPick[] }>();
    for (const claim of claims) {
      const rules = rulesOf.get(claim.workspaceId) ?? null;
      if (!rules) {
        decided.push({ claim, decision: unroutedDecision(now) });
        continue;
      }
      const chosen = chooseTeam(rules.rules, claim.routingAttributes ?? {});
      const team = teamOf(rules.rules, chosen.teamId);
      const ruleId = team.id === chosen.teamId ? chosen.ruleId : FALLBACK_RULE_ID;
      const key = JSON.stringify([claim.workspaceId, team.id]);
      const entry = teams.get(key) ?? { team, rules, leads: [] };
      // The turn is known once the team's cursor moved (below).
      entry.leads.push({ claim, choice: { team, ruleId, rules, ticket: 0 }, member: undefined });
      teams.set(key, entry);
    }
    // Per team: its turns in one cursor move, owners picked as that many `assign` calls in a row would pick them.
    await Promise.all(
      [...teams.values()].map(async ({ team, leads }) => {
        const workspaceId = leads[0]?.claim.workspaceId ?? '';
        const [last, loads] = await Promise.all([
          this.takeTickets(workspaceId, team.id, leads.length),
          this.loadsOf(workspaceId, team.members),
        ]);
        for (const [i, pick] of leads.entries()) {
          pick.choice.ticket = last - leads.length + 1 + i;
          pick.member = pickOwner(team.members, pick.choice.ticket - 1, loads, now);
          if (pick.member) loads.set(pick.member.ownerId, (loads.get(pick.member.ownerId) ?? 0) + 1);
        }
      }),
    );
    const picks = [...teams.values()].flatMap(({ leads }) => leads);
    // Per owner: their holds counted at once. Refused (the load changed meanwhile) → those leads one by one.
    const byOwner = new Map<string, { member: RoutingMember; workspaceId: string; picks: BatchPick[] }>();
    for (const pick of picks) {
      if (!pick.member) continue;
      const key = loadIdOf(pick.claim.workspaceId, pick.member.ownerId);
      const entry = byOwner.get(key) ?? {
        member: pick.member,
        workspaceId: pick.claim.workspaceId,
        picks: [],
      };
      entry.picks.push(pick);
      byOwner.set(key, entry);
    }
    // Decided as if every owner had room, so that the batch's announcement (its `leads.assigned` events, one
    // document) is written while the capacity is reserved. It must exist before the assignments (no decision may
    // land without its event) and is deleted once they are published: no outbox per lead to clear. An event of a
    // lead that did not land as decided here (refused capacity, lost claim) is never published from it.
    const planned = picks.map((pick) => ({
      pick,
      decision: this.decisionOf(pick.claim, pick.choice, pick.member?.ownerId ?? null, now),
    }));
    const announced = planned.flatMap(({ pick, decision }) =>
      decision.outbox.flatMap((entry) =>
        entry.topic === Topics.LeadsAssigned ? [{ contactId: pick.claim._id, event: entry.event }] : [],
      ),
    );
    const announcement: RoutingAnnouncementDoc = {
      _id: randomUUID(),
      leads: announced.map(({ contactId, event }) => ({
        contactId,
        ownerId: event.ownerId,
        eventId: event.metadata.eventId,
      })),
      createdAt: now,
    };
    const [refused] = await Promise.all([
      this.reserveBatch([...byOwner.values()], now),
      announced.length > 0 ? this.announcements.collection.insertOne(announcement as never) : undefined,
      // Each decision's SLA (or queue entry), in the sweep's index before the assignment lands.
      this.arm(
        planned.flatMap(({ pick, decision }) =>
          dueEntriesOf({ ...pick.claim, ...decision.set, pending: false }),
        ),
      ),
    ]);
    for (const { pick, decision } of planned) {
      if (refused.has(pick)) continue;
      const { claim, member } = pick;
      decided.push({
        claim,
        decision,
        ...(member
          ? {
              reservation: {
                workspaceId: claim.workspaceId,
                ownerId: member.ownerId,
                holdId: holdIdOf(claim._id, claim.n),
              },
            }
          : {}),
      });
    }
    const refusedPicks = [...refused];
    // Inserted as plain claims under their lease: the sweep takes them over should this router stop.
    await this.arm(refusedPicks.flatMap(({ claim }) => dueEntriesOf(claim)));
    const docs = [
      ...decided.map(({ claim, decision }) => {
        // A first assignment queues nothing but its `leads.assigned` (no breach came before it).
        const kept = decision.outbox.filter((entry) => entry.topic !== Topics.LeadsAssigned);
        return {
          ...claim,
          ...decision.set,
          outbox: kept,
          pending: kept.length > 0,
          ...(kept.length > 0 ? {} : { leaseToken: null }),
        };
      }),
      ...refusedPicks.map(({ claim, choice }) => ({ ...claim, ticket: choice.ticket })),
    ];
    const taken = await insertClaims(this.assignmentCollection, docs);
    const lost = decided.filter((item, index) => taken.has(index) && item.reservation);
    if (lost.length > 0) {
      const current = await findByIds(
        this.assignmentCollection,
        lost.map(({ claim }) => claim._id),
      );
      for (const { claim, reservation } of lost)
        if (reservation) await this.releaseUnlessAdopted(current.get(claim._id) ?? null, reservation);
    }
    const landed = new Set(decided.filter((_, index) => !taken.has(index)).map(({ claim }) => claim._id));
    await this.announce(
      announcement,
      announced.filter(({ contactId }) => landed.has(contactId)),
    );
    const routed = new Map<string, AssignmentDoc | null>();
    for (const [index, { claim }] of decided.entries()) {
      const doc = docs[index];
      if (!taken.has(index) && doc) routed.set(claim._id, doc);
    }
    // Their claim and lease are held now, and their turn taken: `route` keeps that turn and reserves member by member.
    for (const [i, { claim, choice }] of refusedPicks.entries())
      if (!taken.has(decided.length + i))
        routed.set(claim._id, await this.route({ ...claim, ticket: choice.ticket }, choice.rules, now));
    return routed;
  }

  /**
   * Publishes the events of a batch's announcement that landed (one produce). The announcement is deleted after, but
   * the batch does not wait for that: the deletes of all batches published meanwhile go in one command. One a crash
   * leaves is the sweep's, which publishes its events again under the same ids.
   */
  private async announce(
    announcement: RoutingAnnouncementDoc,
    landed: readonly { contactId: string; event: LeadAssigned }[],
  ): Promise<void> {
    if (announcement.leads.length === 0) return;
    await this.publisher.publishAll(
      landed.map(({ contactId, event }) => ({ topic: Topics.LeadsAssigned, key: contactId, event })),
    );
    this.spent.push(announcement._id);
    this.deleting ??= this.deleteSpent();
  }

  /** Deletes published announcements, one command per round; a failed round's are tried again with the next. */
  private async deleteSpent(): Promise<void> {
    try {
      while (this.spent.length > 0) {
        const ids = this.spent;
        this.spent = [];
        try {
          await this.announcements.deleteMany({ _id: { $in: ids } });
        } catch (error) {
          this.spent.unshift(...ids);
          this.logger.warn(
            { err: (error as Error).message, count: ids.length },
            'announcements not deleted yet',
          );
          return;
        }
      }
    } finally {
      this.deleting = undefined;
    }
  }

  /**
   * Announcements a crash left behind (older than a lease): the events of the leads whose assignment landed as
   * decided (assignment 1, that owner, that event id, that time) are rebuilt from their assignments and published;
   * the others went another way (lost to another writer, or routed lead by lead with an outbox of their own) and are
   * dropped. Returns how many events were published.
   */
  private async sweepAnnouncements(now: Date): Promise<number> {
    const left = await this.announcements
      .find({ createdAt: { $lte: new Date(now.getTime() - this.leaseMs) } })
      .limit(SWEEP_BATCH)
      .lean<RoutingAnnouncementDoc[]>();
    let published = 0;
    for (const announcement of left) {
      if (this.stopped) break;
      const stored = await findByIds(
        this.assignmentCollection,
        announcement.leads.map(({ contactId }) => contactId),
      );
      const landed = announcement.leads.flatMap(({ contactId, ownerId, eventId }) => {
        const doc = stored.get(contactId);
        const asDecided =
          doc?.n === 1 &&
          doc.ownerId === ownerId &&
          doc.metadata?.eventId === eventId &&
          doc.assignedAt?.getTime() === announcement.createdAt.getTime();
        return asDecided ? [{ contactId, event: assignedEventOf(doc) }] : [];
      });
      await this.announce(announcement, landed);
      published += landed.length;
    }
    return published;
  }

  /**
   * The owner accepts the lead (idempotent). `ownerId`, when given, must be the current owner. An accept that
   * lands before the sweep noticed the missed SLA still counts: both are conditional on the lead being `assigned`.
   */
  async accept(
    workspaceId: string,
    contactId: string,
    ownerId?: string,
  ): Promise<{ status: AcceptStatus; assignment: Assignment | null }> {
    for (let attempt = 0; ; attempt += 1) {
      const now = new Date();
      const accepted = await this.assignments
        .findOneAndUpdate(
          { _id: contactId, workspaceId, state: 'assigned', ...(ownerId === undefined ? {} : { ownerId }) },
          { $set: { state: 'accepted', acceptedAt: now, updatedAt: now } },
          { new: true },
        )
        .lean<AssignmentDoc>();
      if (accepted) return { status: 'accepted', assignment: toAssignment(accepted) };
      const doc = await this.assignments.findOne({ _id: contactId, workspaceId }).lean<AssignmentDoc>();
      const assignment = doc ? toAssignment(doc) : null;
      // A recycled lead's owner is the previous round's: nobody owns it until its next round.
      if (!doc?.ownerId || doc.state === 'recycled') return { status: 'not-assigned', assignment };
      if (ownerId !== undefined && doc.ownerId !== ownerId) return { status: 'wrong-owner', assignment };
      if (doc.acceptedAt) return { status: 'already-accepted', assignment };
      // Assigned to this owner yet the update missed it: it changed in between; look again.
      if (doc.state !== 'assigned' || attempt + 1 >= MAX_ACCEPT_ATTEMPTS)
        return { status: 'not-assigned', assignment };
    }
  }

  /**
   * The lead left sales (disqualified, converted, merged away): frees its owner's capacity. Idempotent; null when
   * never routed. No `assign` routes a closed lead again; a `recycle` reopens it unless `final` (a customer, a
   * merged-away contact), which no later call undoes.
   */
  async close(
    workspaceId: string,
    contactId: string,
    options: { final?: boolean } = {},
  ): Promise<Assignment | null> {
    const now = new Date();
    const final = options.final === true;
    const before = await this.assignments
      .findOneAndUpdate(
        { _id: contactId, workspaceId, ...(final ? { final: { $ne: true } } : { state: { $ne: 'closed' } }) },
        {
          $set: {
            state: 'closed',
            closedAt: now,
            leaseToken: null,
            updatedAt: now,
            ...(final ? { final: true } : {}),
          },
        },
      )
      .lean<AssignmentDoc>();
    const doc =
      before ?? (await this.assignments.findOne({ _id: contactId, workspaceId }).lean<AssignmentDoc>());
    if (!doc) return null;
    // Repeated on every close: a crash between the two writes is finished by the retry.
    await this.releaseHoldsOf(doc);
    return toAssignment({
      ...doc,
      state: 'closed',
      closedAt: doc.closedAt ?? now,
      ...(final ? { final: true } : {}),
    });
  }

  /**
   * Sales recycled the lead (SQL, MQL or disqualified back to lead): the current round ends like a close (its
   * owner's capacity is freed) and the lead becomes routable again, so the next `assign` with a cause it has not
   * seen opens round + 1 and gives it an owner again. A recycle cause acts once: it is claimed by an insert of
   * `<contactId>#recycle:<eventId>` naming the round it recycles, so its redelivery is a no-op, also after the next
   * round began. Null when the lead was never up for routing (its first `assign` routes it as usual); a lead closed
   * for good (`final`) or `unrouted` is answered as it is.
   */
  async recycle(workspaceId: string, contactId: string, cause: EventMetadata): Promise<Assignment | null> {
    for (let attempt = 0; ; attempt += 1) {
      const now = new Date();
      const doc = await this.assignments.findOne({ _id: contactId, workspaceId }).lean<AssignmentDoc>();
      if (!doc) return null;
      if (doc.final || doc.state === 'unrouted' || (doc.recycleIds ?? []).includes(cause.eventId))
        return toAssignment(doc);
      const round = doc.round ?? 1;
      const claimId = `${contactId}#recycle:${cause.eventId}`;
      const won = await this.claim({
        _id: claimId,
        workspaceId,
        contactId,
        kind: 'recycle',
        causeId: cause.eventId,
        set: { round },
        createdAt: now,
      });
      if (!won) {
        const claimed = await this.claims.findById(claimId).lean<RoutingClaimDoc>();
        // This cause recycled an earlier round: a redelivery.
        if ((claimed?.set?.round ?? round) !== round) return toAssignment(doc);
      }
      if (doc.state === 'recycled') {
        // Recycled already (by another cause, or by this one before a crash): finish the release, change nothing.
        await this.releaseHoldsOf(doc);
        return toAssignment(doc);
      }
      const recycled = await this.assignments
        .findOneAndUpdate(
          { _id: contactId, n: doc.n, state: doc.state, final: { $ne: true } },
          {
            $set: {
              state: 'recycled',
              recycledAt: now,
              closedAt: doc.closedAt ?? now,
              leaseToken: null,
              recycleIds: remember(doc.recycleIds, cause.eventId),
              updatedAt: now,
            },
          },
          { new: true },
        )
        .lean<AssignmentDoc>();
      if (recycled) {
        // The holds of the state it had: its owner's, or what an interrupted router or reassignment held.
        await this.releaseHoldsOf(doc);
        return toAssignment(recycled);
      }
      // It changed in between (a breach moved it to the next assignment, an accept): recycle what it is now.
      if (attempt + 1 >= MAX_RECYCLE_ATTEMPTS) {
        const current = await this.assignmentDoc(contactId);
        return current ? toAssignment(current) : null;
      }
    }
  }

  /** The lead's assignment (any state, `unrouted` included), or null when it was never up for routing. */
  async assignmentOf(workspaceId: string, contactId: string): Promise<Assignment | null> {
    const doc = await this.assignments.findOne({ _id: contactId, workspaceId }).lean<AssignmentDoc>();
    return doc ? toAssignment(doc) : null;
  }

  /**
   * One pass, safe on every replica at once (each step is conditional on the state it found):
   * assignments past `acceptDueAt` and not accepted are breached (once) and reassigned round-robin in their team
   * without the owner who missed it; interrupted ones are finished; queued ones are retried, oldest first.
   * The sweep reads only what its index (`routing_due`) says is due, never the whole table: an `_id` range of the
   * wake-ups up to now, then the queue. Every writer that makes a lead due adds its entry (see RoutingDueDoc); once in
   * a while (and on a replica's first sweep) a scan of the assignments adds any a half-failed write left out.
   */
  async sweep(now = new Date()): Promise<SweepReport> {
    const report: SweepReport = { breached: 0, assigned: 0, republished: 0, recounted: 0, rearmed: 0 };
    report.republished += await this.sweepAnnouncements(now);
    report.recounted = await this.recountLoads(RECOUNT_PER_SWEEP);
    const reconcileEvery = this.options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS;
    if (this.reconciledAt === 0 || now.getTime() - this.reconciledAt >= reconcileEvery) {
      report.rearmed = await this.reconcile(now);
      this.reconciledAt = now.getTime();
    }
    const rulesOf = new Map<string, Promise<RoutingRulesVersion | null>>();
    const rulesFor = (workspaceId: string) => {
      const cached = rulesOf.get(workspaceId) ?? this.rules.current(workspaceId);
      rulesOf.set(workspaceId, cached);
      return cached;
    };
    // Missed SLAs, interrupted routings and unpublished outboxes first, oldest first, in pages of their own: a
    // backlog of queued leads (a team at capacity) must never crowd them out.
    for (let page = 0; page < MAX_WAKE_PAGES && !this.stopped; page += 1) {
      const { entries: wakes, docs } = await this.duePage({
        _id: { $gte: WAKE_PREFIX, $lt: wakeBound(now) },
      });
      const urgent = [...docs.values()]
        .filter((doc) => (wakeAtOf(doc)?.getTime() ?? Number.POSITIVE_INFINITY) <= now.getTime())
        .sort((a, b) => (wakeAtOf(a)?.getTime() ?? 0) - (wakeAtOf(b)?.getTime() ?? 0));
      for (const doc of urgent) {
        if (this.stopped) break;
        await this.sweepStep(doc, async () => {
          if (doc.pending) {
            await this.flush(doc);
            report.republished += 1;
          } else if (doc.state === 'assigned') {
            if (await this.breach(doc, await rulesFor(doc.workspaceId), now)) report.breached += 1;
          } else if (doc.state === 'routing') {
            const taken = await this.lease(doc, { state: 'routing', leaseToken: doc.leaseToken }, now);
            const routed = taken && (await this.route(taken, await rulesFor(doc.workspaceId), now, true));
            if (routed && routed.state === 'assigned') report.assigned += 1;
          }
        });
      }
      const dropped = await this.settle(wakes, now);
      if (wakes.length < SWEEP_BATCH || dropped === 0) break;
    }
    // A team found full in this pass stays full for it: its other queued leads are skipped without a write, and the
    // next page leaves its leads out, so one full team's backlog cannot hide another team's waiting leads.
    const full: { workspaceId: string; teamId: string | null }[] = [];
    const isFull = (entry: RoutingDueDoc) =>
      full.some((team) => team.workspaceId === entry.workspaceId && team.teamId === entry.teamId);
    for (let page = 0; page < MAX_QUEUED_PAGES && !this.stopped; page += 1) {
      const fullBefore = full.length;
      const { entries: queue, docs } = await this.duePage({
        _id: { $gte: QUEUE_PREFIX, $lt: QUEUE_END },
        ...(full.length > 0 ? { $nor: [...full] } : {}),
      });
      for (const entry of queue) {
        const doc = docs.get(entry.contactId);
        if (this.stopped) break;
        // Not while its outbox is pending: the replica publishing it clears the whole outbox afterwards.
        if (!doc || doc.state !== 'queued' || doc.pending || isFull(entry)) continue;
        await this.sweepStep(doc, async () => {
          const taken = await this.lease(doc, { state: 'queued', pending: false }, now);
          const routed = taken && (await this.route(taken, await rulesFor(doc.workspaceId), now));
          if (routed && routed.state === 'assigned') report.assigned += 1;
          else if (routed && routed.state === 'queued' && !missedOwnerOf(routed))
            full.push({ workspaceId: doc.workspaceId, teamId: doc.teamId });
        });
      }
      await this.settle(queue, now);
      if (queue.length < SWEEP_BATCH || full.length === fullBefore) break;
    }
    return report;
  }

  /** A page of the sweep's index (`_id` order, so oldest first) and the assignments its entries name. */
  private async duePage(
    filter: Record<string, unknown>,
  ): Promise<{ entries: RoutingDueDoc[]; docs: Map<string, AssignmentDoc> }> {
    const entries = await this.due.find(filter).sort({ _id: 1 }).limit(SWEEP_BATCH).lean<RoutingDueDoc[]>();
    const docs = await findByIds(
      this.assignmentCollection,
      entries.map((entry) => entry.contactId),
    );
    return { entries, docs };
  }

  /**
   * After the sweep came to these entries: each lead's entries as it stands now are added (a lead still due comes up
   * again at the next sweep), then the entries it no longer needs are deleted. Returns how many were deleted.
   */
  private async settle(entries: readonly RoutingDueDoc[], now: Date): Promise<number> {
    if (entries.length === 0) return 0;
    const current = await findByIds(
      this.assignmentCollection,
      entries.map((entry) => entry.contactId),
    );
    const next = new Date(now.getTime() + 1);
    const needed = [...current.values()].flatMap((doc) => dueEntriesOf(doc, next));
    const neededIds = new Set(needed.map((entry) => entry._id));
    const seen = new Set(entries.map((entry) => entry._id));
    await this.armMissing(needed.filter((entry) => !seen.has(entry._id)));
    const spent = entries.filter((entry) => !neededIds.has(entry._id)).map((entry) => entry._id);
    if (spent.length > 0) await this.due.deleteMany({ _id: { $in: spent } });
    return spent.length;
  }

  /**
   * Scans the assignments for leads due now (the sweep's former queries, each reading the whole table) and adds the
   * index entries they lack; returns how many were missing. A write that made a lead due and failed to add its entry
   * (the store answered one command of two) is caught here, at most `reconcileIntervalMs` late.
   */
  private async reconcile(now: Date): Promise<number> {
    const found: AssignmentDoc[] = [];
    // One after another: each scans the assignments, and several at once took both cores from the routing of leads.
    for (const filter of [
      { state: 'assigned', pending: false, acceptDueAt: { $lte: now } },
      { state: 'routing', leaseUntil: { $lte: now } },
      { pending: true, leaseUntil: { $lte: now } },
      { state: 'queued', pending: false },
    ])
      found.push(...(await this.assignments.find(filter).limit(SWEEP_BATCH).lean<AssignmentDoc[]>()));
    const missing = await this.armMissing(found.flatMap((doc) => dueEntriesOf(doc)));
    if (missing.length > 0)
      this.logger.warn(
        {
          event: 'routing-due-rearmed',
          count: missing.length,
          contactIds: missing.map((e) => e.contactId).slice(0, 20),
        },
        "due leads were missing from the sweep's index; added",
      );
    return missing.length;
  }

  /**
   * Corrects owners' `open` counts from their capacity holds (the truth: one hold per counted lead). A crash between
   * inserting a hold and counting it leaves `open` one low (the owner could get one lead beyond capacity), and one
   * between deleting a hold and uncounting it one high. A mismatch is corrected only when the owner's next recount
   * finds the very same one (a reserve or release in flight lasts milliseconds, not a recount interval), and only if
   * `open` has not moved since (conditional write); a reserve or release landing meanwhile adds its own unit to the
   * corrected count. Recounts `limit` owners, going on from where the last call stopped (all of them by default),
   * one count of holds each. Returns how many loads were corrected.
   */
  async recountLoads(limit = Number.POSITIVE_INFINITY): Promise<number> {
    const loads = (
      await this.loads.find({}, { workspaceId: 1, ownerId: 1, open: 1 }).lean<OwnerLoadDoc[]>()
    ).sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    const turn = loads.filter((load) => load._id > this.recountAfter).slice(0, limit);
    // Past the last owner, the next call starts again from the first.
    this.recountAfter = turn.length === limit ? (turn.at(-1)?._id ?? '') : '';
    let corrected = 0;
    for (const load of turn) {
      const held = await this.holds.countDocuments({ workspaceId: load.workspaceId, ownerId: load.ownerId });
      const before = this.mismatches.get(load._id);
      this.mismatches.delete(load._id);
      if (load.open === held) continue;
      if (before?.open !== load.open || before.held !== held) {
        this.mismatches.set(load._id, { open: load.open, held });
        continue;
      }
      const { modifiedCount } = await this.loads.updateOne(
        { _id: load._id, open: load.open },
        { $set: { open: held } },
      );
      if (modifiedCount > 0) {
        corrected += 1;
        this.logger.warn(
          { event: 'routing-load-recounted', loadId: load._id, open: load.open, held },
          "an owner's open-lead count did not match their capacity holds; corrected",
        );
      }
    }
    return corrected;
  }

  /** One lead's step of a sweep: its failure (e.g. Kafka refused the outbox) must not stop the others. */
  private async sweepStep(doc: AssignmentDoc, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (isStoreUnavailable(error)) throw error;
      // Its lease expires and a later sweep takes it up again.
      this.logger.warn(
        { event: 'routing-sweep-lead-failed', contactId: doc._id, err: error },
        'routing sweep step failed',
      );
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // A timeout chain rather than an interval: sweeps never overlap, however slow the store is.
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then((report) => {
          if (report.breached + report.assigned + report.republished + report.recounted > 0)
            this.logger.info({ event: 'routing-sweep', ...report }, 'routing sweep');
        })
        .catch((error: unknown) =>
          // A store outage is retried next tick; it never takes the process down.
          this.logger.warn(
            { event: 'routing-sweep-failed', storeDown: isStoreUnavailable(error), err: error },
            'routing sweep failed',
          ),
        )
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.options.sweepIntervalMs);
    this.timer.unref();
  }

  /**
   * The claim was someone else's: answer with their assignment, finishing it when they left it half-way. A recycled
   * lead meeting a cause it has not seen opens its next round.
   */
  private async resume(
    input: RoutingRequest,
    rules: RoutingRulesVersion | null,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    let doc = await this.assignments
      .findOne({ _id: input.contactId, workspaceId: input.workspaceId })
      .lean<AssignmentDoc>();
    if (!doc) return null;
    const seen =
      doc.cause.eventId === input.cause.eventId || (doc.causeIds ?? []).includes(input.cause.eventId);
    if (doc.state === 'recycled') {
      // A cause of an earlier round (a redelivery, a replayed dead letter) does not route it again.
      if (seen) return doc;
      const opened = await this.openRound(doc, input, now);
      if (!opened) return this.assignmentDoc(doc._id);
      if (opened.mine) return this.route(opened.doc, rules, now);
      doc = opened.doc;
    } else if (!seen && doc.state !== 'closed' && (!doc.leaseToken || doc.leaseUntil <= now)) {
      // Remembered so that, once the lead is recycled, this cause redelivered opens no round. Not while someone
      // holds the lease: on FerretDB this write could overwrite their decision.
      await this.assignments.updateOne(
        { _id: doc._id },
        { $set: { causeIds: remember(doc.causeIds, input.cause.eventId) } },
      );
    }
    if (doc.state === 'unrouted') {
      if (!rules) return doc;
      // Rules exist now: this is the lead's first real routing, caused by the event at hand.
      const fresh = firstAssignment(input, now, this.leaseMs);
      await this.arm(dueEntriesOf({ ...doc, state: 'routing', leaseUntil: fresh.leaseUntil }));
      const taken = await this.assignments
        .findOneAndUpdate(
          { _id: doc._id, state: 'unrouted' },
          {
            $set: {
              state: 'routing',
              cause: fresh.cause,
              causeIds: remember(doc.causeIds, fresh.cause.eventId),
              routingAttributes: fresh.routingAttributes,
              leaseToken: fresh.leaseToken,
              leaseUntil: fresh.leaseUntil,
              updatedAt: now,
            },
          },
          { new: true },
        )
        .lean<AssignmentDoc>();
      return taken ? this.route(taken, rules, now) : this.assignmentDoc(doc._id);
    }
    if (doc.leaseUntil > now) return doc;
    if (doc.state === 'routing') {
      const taken = await this.lease(doc, { state: 'routing', leaseToken: doc.leaseToken }, now);
      return taken ? this.route(taken, rules, now, true) : this.assignmentDoc(doc._id);
    }
    if (doc.pending) await this.flush(doc);
    return doc;
  }

  /**
   * Opens round + 1 of a recycled lead for `input`: claimed by inserting `<contactId>#round-<round>`, whose winner
   * writes the new round (routing, under its lease) and routes it (`mine`). Someone else's claim: their round is
   * answered, written from their claim when they stopped before writing it (their lease ran out), so the sweeper or
   * the next caller takes it over like any interrupted routing.
   */
  private async openRound(
    doc: AssignmentDoc,
    input: RoutingRequest,
    now: Date,
  ): Promise<{ doc: AssignmentDoc; mine: boolean } | null> {
    const round = (doc.round ?? 1) + 1;
    const claimId = `${doc._id}#round-${round}`;
    const fresh = firstAssignment(input, now, this.leaseMs);
    const set: Partial<AssignmentDoc> = {
      state: 'routing',
      round,
      n: doc.n + 1,
      reason: 'requalified',
      ownerId: null,
      previousOwnerId: null,
      teamId: null,
      ruleId: null,
      rulesVersion: null,
      ticket: null,
      routingAttributes: fresh.routingAttributes,
      cause: input.cause,
      metadata: null,
      assignedAt: null,
      acceptDueAt: null,
      acceptedAt: null,
      closedAt: null,
      queuedAt: null,
      recycledAt: null,
      breach: null,
      leaseToken: fresh.leaseToken,
      leaseUntil: fresh.leaseUntil,
      updatedAt: now,
    };
    const won = await this.claim({
      _id: claimId,
      workspaceId: doc.workspaceId,
      contactId: doc._id,
      kind: 'round',
      causeId: input.cause.eventId,
      set,
      createdAt: now,
    });
    const claimed = won ? set : (await this.claims.findById(claimId).lean<RoutingClaimDoc>())?.set;
    if (!claimed) return null;
    // The claimant is (or may still be) writing it.
    if (!won && claimed.leaseUntil && claimed.leaseUntil > now) return null;
    await this.arm(dueEntriesOf({ ...doc, ...claimed }));
    const opened = await this.assignments
      .findOneAndUpdate(
        { _id: doc._id, n: doc.n, state: 'recycled' },
        {
          $set: {
            ...claimed,
            causeIds: remember(doc.causeIds, claimed.cause?.eventId ?? input.cause.eventId),
          },
        },
        { new: true },
      )
      .lean<AssignmentDoc>();
    return opened ? { doc: opened, mine: won } : null;
  }

  /** Inserts an exclusive claim; false when it exists already (someone else took this decision). */
  private async claim(doc: RoutingClaimDoc): Promise<boolean> {
    try {
      await this.claims.collection.insertOne(doc as never);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * Frees the capacity a lead in the state `doc` holds (idempotent: each hold is given back once): its owner's,
   * what a router interrupted mid-way reserved for an owner it never recorded, and the hold of the owner who missed
   * the SLA when the reassignment was interrupted before it freed it.
   */
  private async releaseHoldsOf(doc: AssignmentDoc): Promise<void> {
    const ws = doc.workspaceId;
    const holdId = holdIdOf(doc._id, doc.n);
    if (doc.ownerId) await this.release(ws, doc.ownerId, holdId);
    else if (doc.state === 'routing') await this.releaseStrays(ws, holdId, null);
    const missed = missedOwnerOf(doc);
    if (missed) await this.release(ws, missed, holdIdOf(doc._id, doc.n - 1));
  }

  /** Takes the lease of a lead found in `expected` (conditional, so one replica wins); null when another did. */
  private async lease(
    doc: AssignmentDoc,
    expected: { state: AssignmentState; leaseToken?: string | null; pending?: boolean },
    now: Date,
  ): Promise<AssignmentDoc | null> {
    return this.assignments
      .findOneAndUpdate(
        {
          _id: doc._id,
          n: doc.n,
          ...expected,
          ...(expected.state === 'routing' ? { leaseUntil: { $lte: now } } : {}),
        },
        {
          $set: {
            state: 'routing',
            leaseToken: randomUUID(),
            leaseUntil: new Date(now.getTime() + this.leaseMs),
            updatedAt: now,
          },
        },
        { new: true },
      )
      .lean<AssignmentDoc>();
  }

  /**
   * Chooses the owner of assignment `doc.n` under the lease the caller holds, records the decision with its events
   * and publishes them. `takeover`: a previous holder may have reserved capacity already; that hold is reused.
   */
  private async route(
    doc: AssignmentDoc,
    rules: RoutingRulesVersion | null,
    now: Date,
    takeover = false,
  ): Promise<AssignmentDoc | null> {
    const lease = { _id: doc._id, state: 'routing', leaseToken: doc.leaseToken };
    if (!rules) {
      // Rules are never deleted, so only a first routing meets a workspace without them.
      return this.decide(lease, updateOf(unroutedDecision(now)));
    }
    const chosen = doc.teamId
      ? { teamId: doc.teamId, ruleId: doc.ruleId ?? FALLBACK_RULE_ID }
      : chooseTeam(rules.rules, doc.routingAttributes ?? {});
    let team = teamOf(rules.rules, chosen.teamId);
    const ws = doc.workspaceId;
    const holdId = holdIdOf(doc._id, doc.n);
    const missed = missedOwnerOf(doc);
    // After a missed SLA the lead goes to someone else in its team. A team with nobody else who takes leads (a
    // one-member team) hands it to the fallback team; when that has nobody else either, it goes back to the owner
    // who missed it, with a fresh SLA. Others who are full or off shift now are waited for (queued).
    let exclude: string | null = missed;
    if (missed && !hasOtherTaker(team, missed)) {
      const fallback = teamOf(rules.rules, rules.rules.fallbackTeamId);
      if (fallback.id !== team.id && hasOtherTaker(fallback, missed)) team = fallback;
      else exclude = null;
    }
    // A reassignment frees the owner who missed the SLA (idempotent, so repeated retries are harmless); before the
    // loads are read, so that owner counts as free when the lead goes back to them.
    if (missed) await this.release(ws, missed, holdIdOf(doc._id, doc.n - 1));
    const [ticket, loads, held] = await Promise.all([
      doc.ticket ?? this.nextTicket(ws, team.id),
      this.loadsOf(ws, team.members),
      takeover ? this.holderOf(holdId) : undefined,
    ]);
    let ownerId = held;
    let reserved = false;
    while (!ownerId) {
      const member = pickOwner(team.members, ticket - 1, loads, now, new Set(exclude ? [exclude] : []));
      if (!member) break;
      if (await this.reserve(ws, member, holdId)) {
        ownerId = member.ownerId;
        reserved = true;
      } else loads.set(member.ownerId, member.capacity); // filled up since the read
    }
    const choice: RoutingChoice = {
      team,
      ruleId: team.id === chosen.teamId ? chosen.ruleId : FALLBACK_RULE_ID,
      rules,
      ticket,
    };
    const decision = this.decisionOf(doc, choice, ownerId ?? null, now);
    // The queue entry or the SLA of the decision, while it is written. Should that fail alone, the lease's entry
    // (`doc` is routing) brings the sweep to the lead, which then adds what it needs.
    const entries = dueEntriesOf({ ...doc, ...decision.set, pending: false });
    if (!ownerId) {
      const queued = await this.decide(lease, updateOf(decision), undefined, entries);
      if (takeover) await this.releaseStrays(ws, holdId, null);
      return queued;
    }
    const decided = await this.decide(
      lease,
      updateOf(decision),
      reserved ? { workspaceId: ws, ownerId, holdId } : undefined,
      entries,
    );
    if (takeover && decided?.state === 'assigned' && decided.n === doc.n)
      await this.releaseStrays(ws, holdId, decided.ownerId);
    return decided;
  }

  /**
   * Assignment `doc.n` decided: to `ownerId`, with its `leads.assigned` (and the breach that started it, if one did)
   * in the outbox, or queued when nobody could take it (the breach still announced).
   */
  private decisionOf(doc: AssignmentDoc, choice: RoutingChoice, ownerId: string | null, now: Date): Decision {
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
        leaseUntil: new Date(now.getTime() + this.leaseMs),
      },
      outbox: [
        ...(breach
          ? [{ topic: Topics.LeadsSlaBreached, event: { ...breach, reassignedTo: ownerId } } as const]
          : []),
        { topic: Topics.LeadsAssigned, event: assigned },
      ],
    };
  }

  /**
   * Writes a routing decision if the lease is still ours, then publishes what it queued. Lost the lease (the lead
   * was closed, or a slow step let another replica take over): the capacity reserved here goes back unless the
   * lead ended up with this very hold.
   */
  private async decide(
    lease: { _id: string; state: string; leaseToken: string | null },
    update: UpdateQuery<AssignmentDoc>,
    reservation?: Reservation,
    entries: readonly RoutingDueDoc[] = [],
  ): Promise<AssignmentDoc | null> {
    const [decided] = await Promise.all([
      this.assignments.findOneAndUpdate(lease, update, { new: true }).lean<AssignmentDoc>(),
      this.arm(entries),
    ]);
    if (decided) {
      if (decided.pending) await this.flush(decided);
      return decided;
    }
    const current = await this.assignmentDoc(lease._id);
    if (reservation) await this.releaseUnlessAdopted(current, reservation);
    return current;
  }

  /** A decision lost its lease: the capacity it reserved goes back unless the lead ended up with this very hold. */
  private async releaseUnlessAdopted(current: AssignmentDoc | null, reservation: Reservation): Promise<void> {
    const sameAssignment = current !== null && holdIdOf(current._id, current.n) === reservation.holdId;
    // Whoever took over may have found this hold and adopted it (routing), or already recorded it (our owner).
    const adopted =
      sameAssignment &&
      current.state !== 'closed' &&
      current.state !== 'recycled' &&
      (current.state === 'routing' || current.ownerId === reservation.ownerId);
    if (!adopted) await this.release(reservation.workspaceId, reservation.ownerId, reservation.holdId);
  }

  /** Publishes a lead's outbox and clears it (kept for assignment `n` only: a later one has its own). */
  private async flush(doc: AssignmentDoc): Promise<void> {
    if (doc.outbox.length === 0) return;
    await this.publisher.publishAll(doc.outbox.map((entry) => outgoing(doc._id, entry)));
    await this.assignments.updateOne(
      { _id: doc._id, n: doc.n, pending: true },
      { $set: { outbox: [], pending: false, leaseToken: null, updatedAt: new Date() } },
    );
  }

  /**
   * A missed SLA: claimed by inserting `<contactId>#breach-<n>` (two sweeping replicas breach it once; a conditional
   * update alone had two winners on FerretDB), written as assignment n + 1 under the claimant's lease, announced,
   * and the lead routed again (see `route` for who gets it). A claimant that stopped between its claim and its write
   * is taken over once the lease in its claim ran out, with the same breach (same event id).
   */
  private async breach(
    doc: AssignmentDoc,
    rules: RoutingRulesVersion | null,
    now: Date,
  ): Promise<AssignmentDoc | null> {
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
      leaseUntil: new Date(now.getTime() + this.leaseMs),
      updatedAt: now,
    };
    const claimId = `${doc._id}#breach-${doc.n}`;
    const won = await this.claim({
      _id: claimId,
      workspaceId: doc.workspaceId,
      contactId: doc._id,
      kind: 'breach',
      causeId: breach.metadata.eventId,
      set,
      createdAt: now,
    });
    const claimed = won ? set : (await this.claims.findById(claimId).lean<RoutingClaimDoc>())?.set;
    // Someone else's breach, still within their lease: theirs to finish.
    if (!claimed || (!won && (!claimed.leaseUntil || claimed.leaseUntil > now))) return null;
    const written = await this.assignments
      .findOneAndUpdate(
        { _id: doc._id, n: doc.n, state: 'assigned', pending: false, acceptDueAt: { $lte: now } },
        { $set: claimed },
        { new: true },
      )
      .lean<AssignmentDoc>();
    if (!written) return null;
    if (won) {
      await this.route(written, rules, now);
      return written;
    }
    // Their lease ran out before they wrote it: take it over like any interrupted routing.
    const taken = await this.lease(written, { state: 'routing', leaseToken: written.leaseToken }, now);
    if (!taken) return null;
    await this.route(taken, rules, now, true);
    return taken;
  }

  private async assignmentDoc(contactId: string): Promise<AssignmentDoc | null> {
    return this.assignments.findById(contactId).lean<AssignmentDoc>();
  }

  /** The next round-robin position of a team (1, 2, ...). */
  private async nextTicket(workspaceId: string, teamId: string): Promise<number> {
    return this.takeTickets(workspaceId, teamId, 1);
  }

  /** Takes `count` consecutive round-robin positions of a team; returns the last (they end there). */
  private async takeTickets(workspaceId: string, teamId: string, count: number): Promise<number> {
    const take = () =>
      this.cursors
        .findOneAndUpdate(
          { _id: `${workspaceId}:${teamId}` },
          { $inc: { seq: count } },
          { upsert: true, new: true },
        )
        .lean<RoutingCursorDoc>();
    // Two first moves of a new team's cursor at once both try to insert it; the loser finds it on the second try.
    const cursor = await take().catch((error: unknown) => {
      if (isDuplicateKey(error)) return take();
      throw error;
    });
    return cursor?.seq ?? count;
  }

  /** Open leads per owner of a team (one `_id $in` read). */
  private async loadsOf(
    workspaceId: string,
    members: readonly RoutingMember[],
  ): Promise<Map<string, number>> {
    const docs = await this.loads
      .find({ _id: { $in: members.map((m) => loadIdOf(workspaceId, m.ownerId)) } }, { ownerId: 1, open: 1 })
      .lean<Pick<OwnerLoadDoc, 'ownerId' | 'open'>[]>();
    return new Map(docs.map((doc) => [doc.ownerId, doc.open]));
  }

  /** The owner already holding capacity for this assignment (left by an interrupted router), if any. */
  private async holderOf(holdId: string): Promise<string | undefined> {
    const hold = await this.holds.findById(holdId, { ownerId: 1 }).lean<Pick<RoutingHoldDoc, 'ownerId'>>();
    return hold?.ownerId;
  }

  /**
   * Takes one unit of the owner's capacity for `holdId`, exactly once: the hold is inserted first (an insert by
   * `_id` has one winner, also on FerretDB), then counted under capacity; refused, the hold is taken back. A retry
   * finds the hold and does not count it again (a crash between the two writes leaves the count one low, never
   * one high).
   */
  private async reserve(workspaceId: string, member: RoutingMember, holdId: string): Promise<boolean> {
    if (member.capacity <= 0) return false;
    const hold: RoutingHoldDoc = { _id: holdId, workspaceId, ownerId: member.ownerId, createdAt: new Date() };
    const inserted = (await insertClaims(this.holdCollection, [hold])).size === 0;
    // Held already: counted when it is this owner's (a retry); another owner's is a stray its takeover gives back.
    if (!inserted) return (await this.holderOf(holdId)) === member.ownerId;
    if (await this.takeCapacity(workspaceId, member, 1)) return true;
    await this.holds.deleteOne({ _id: holdId, ownerId: member.ownerId });
    return false;
  }

  /**
   * Capacity for the leads a batch picked: all their holds in one insert, then all owners counted in one bulk write,
   * each owner's count guarded by their capacity (a conditional count per owner cost one command each, 20 of a
   * batch's 30 at 500 leads/s). Owners who did not fit, and those who met a hold someone else had, take back the
   * holds this batch inserted for them; their leads are returned, to reserve lead by lead.
   */
  private async reserveBatch(
    owners: readonly { workspaceId: string; member: RoutingMember; picks: BatchPick[] }[],
    now: Date,
  ): Promise<Set<BatchPick>> {
    const holds = owners.flatMap(({ workspaceId, member, picks }) =>
      picks.map(({ claim }) => ({
        _id: holdIdOf(claim._id, claim.n),
        workspaceId,
        ownerId: member.ownerId,
        createdAt: now,
      })),
    );
    const taken = await insertClaims(this.holdCollection, holds);
    let next = 0;
    const tries = owners.map((owner) => {
      const ours = holds.slice(next, next + owner.picks.length).filter((_, i) => !taken.has(next + i));
      next += owner.picks.length;
      const clash = ours.length < owner.picks.length || owner.member.capacity < owner.picks.length;
      return { ...owner, ours, clash, loadId: loadIdOf(owner.workspaceId, owner.member.ownerId) };
    });
    const counted = new Set(await this.countAll(tries.filter(({ clash }) => !clash)));
    const refused = new Set<BatchPick>();
    await Promise.all(
      tries.map(async (owner) => {
        if (counted.has(owner)) return;
        const { member, picks, ours } = owner;
        if (ours.length > 0)
          await this.holds.deleteMany({
            _id: { $in: ours.map((hold) => hold._id) },
            ownerId: member.ownerId,
          });
        for (const pick of picks) refused.add(pick);
      }),
    );
    return refused;
  }

  /**
   * Adds each owner's picks to their `open` if they all fit under the capacity, all owners in one bulk of guarded
   * upserts; returns the owners counted. The others were full (or lost the race to create their load document).
   */
  private async countAll<
    T extends { workspaceId: string; member: RoutingMember; picks: unknown[]; loadId: string },
  >(owners: readonly T[]): Promise<T[]> {
    const refused = await guardedUpserts(
      this.loadUpserts,
      owners.map(({ loadId, workspaceId, member, picks }) =>
        countUnder(loadId, workspaceId, member, picks.length),
      ),
    );
    return owners.filter((_, index) => !refused.has(index));
  }

  /** Counts `units` more open leads on the owner if they all fit under the capacity (one conditional write). */
  private async takeCapacity(workspaceId: string, member: RoutingMember, units: number): Promise<boolean> {
    if (member.capacity < units) return false;
    const loadId = loadIdOf(workspaceId, member.ownerId);
    return (
      (await guardedUpserts(this.loadUpserts, [countUnder(loadId, workspaceId, member, units)])).size === 0
    );
  }

  /** The driver collections the batch helpers read and insert through. */
  private get assignmentCollection(): BatchCollection<AssignmentDoc> {
    return this.assignments.collection as unknown as BatchCollection<AssignmentDoc>;
  }

  private get loadUpserts(): UpsertCollection {
    return this.loads.collection as unknown as UpsertCollection;
  }

  private get holdCollection(): BatchCollection<RoutingHoldDoc> {
    return this.holds.collection as unknown as BatchCollection<RoutingHoldDoc>;
  }

  /** Adds entries to the sweep's index (see RoutingDueDoc); an entry there already stays as it is. */
  private async arm(entries: readonly RoutingDueDoc[]): Promise<void> {
    await insertClaims(this.dueCollection, entries);
  }

  /**
   * `arm` for entries that mostly exist already (the sweep's): read first by `_id`, so that only the missing ones
   * are inserted (a duplicate in an insert costs FerretDB a retry of each document alone). Returns those added.
   */
  private async armMissing(entries: readonly RoutingDueDoc[]): Promise<RoutingDueDoc[]> {
    const unique = [...new Map(entries.map((entry) => [entry._id, entry])).values()];
    if (unique.length === 0) return [];
    const existing = await findByIds(
      this.dueCollection,
      unique.map((entry) => entry._id),
      { _id: 1 },
    );
    const missing = unique.filter((entry) => !existing.has(entry._id));
    await this.arm(missing);
    return missing;
  }

  private get dueCollection(): BatchCollection<RoutingDueDoc> {
    return this.due.collection as unknown as BatchCollection<RoutingDueDoc>;
  }

  /**
   * After a takeover: capacity a stalled previous holder reserved for this assignment on anyone but the chosen
   * owner goes back (it cannot record its choice any more; its own failed write releases what it reserves later).
   */
  private async releaseStrays(
    workspaceId: string,
    holdId: string,
    keptOwnerId: string | null,
  ): Promise<void> {
    const holder = await this.holderOf(holdId);
    if (holder && holder !== keptOwnerId) await this.release(workspaceId, holder, holdId);
  }

  /** Gives back the capacity `holdId` took, exactly once: only the call that deletes the hold uncounts it. */
  private async release(workspaceId: string, ownerId: string, holdId: string): Promise<void> {
    const { deletedCount } = await this.holds.deleteOne({ _id: holdId, ownerId });
    if (deletedCount > 0)
      await this.loads.updateOne({ _id: loadIdOf(workspaceId, ownerId) }, { $inc: { open: -1 } });
  }
}
