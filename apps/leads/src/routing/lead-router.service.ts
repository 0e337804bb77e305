import { Inject, Injectable } from '@nestjs/common';
import type { EventMetadata } from '@tributary/contracts';
import { AnnouncementOutbox } from './announcement-outbox';
import { AssignmentStore } from './assignment.store';
import { BatchRouter } from './batch-router';
import { CapacityLedger } from './capacity-ledger';
import { LeadAssigner } from './lead-assigner';
import type { LeadRouting } from './lead-routing.port';
import {
  acceptStatusOf,
  acceptanceOf,
  causeSeen,
  closedOf,
  firstAssignment,
  nextRoundOf,
  recycleIsNoOp,
  recycledSetOf,
  remember,
  routedAssignment,
  toAssignment,
  type Acceptance,
} from './routing-decisions';
import { RoutingRulesStore, type RoutingRulesVersion } from './routing-rules.store';
import { dueEntriesOf, type AssignmentDoc } from './routing.model';
import {
  ROUTING_OPTIONS,
  leaseMsOf,
  type AcceptStatus,
  type Assignment,
  type RoutingOptions,
  type RoutingRequest,
} from './routing.types';

// Importers of this file before routing was split up (the pipeline, the contacts API, the rescore CLI and specs).
export { ROUTING_OPTIONS } from './routing.types';
export type {
  AcceptStatus,
  Assignment,
  AssignmentReason,
  AssignmentState,
  RoutingOptions,
  RoutingRequest,
  SweepReport,
} from './routing.types';

// Bounded retries of an accept racing a reassignment of the same lead.
const MAX_ACCEPT_ATTEMPTS = 3;
// Bounded retries of a recycle racing another change of the same lead (a breach, an accept).
const MAX_RECYCLE_ATTEMPTS = 3;

/**
 * Gives each lead exactly one owner by its workspace's routing rules, and answers for it: accept, close, recycle.
 * A lead is claimed by inserting its assignment under a lease (one insert wins), and only the lease holder records
 * an owner (`LeadAssigner`); a crash leaves a lease that runs out and is taken over, by a redelivery or the sweep
 * (`SlaSweeper`). Every other once-only decision (a new round, a recycle) starts with an insert claim too.
 */
@Injectable()
export class LeadRouter implements LeadRouting {
  private readonly leaseMs: number;

  constructor(
    private readonly store: AssignmentStore,
    private readonly ledger: CapacityLedger,
    private readonly outbox: AnnouncementOutbox,
    private readonly assigner: LeadAssigner,
    private readonly batches: BatchRouter,
    private readonly rules: RoutingRulesStore,
    @Inject(ROUTING_OPTIONS) options: RoutingOptions,
  ) {
    this.leaseMs = leaseMsOf(options);
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
      this.store.insertAssignment(claim),
      // The sweep takes the lead over when the lease runs out, should this router stop before deciding.
      this.store.arm(dueEntriesOf(claim)),
    ]);
    const doc = claimed ? await this.assigner.route(claim, rules, now) : await this.resume(input, rules, now);
    return routedAssignment(doc);
  }

  /**
   * `assign` for several leads, with the results `assign` gives each in turn: the new ones routed together
   * (`BatchRouter`), the others (a redelivery, a repeat in the batch, a lead someone else inserted meanwhile) resumed
   * as `assign` resumes them, afterwards and in input order.
   */
  async assignMany(
    inputs: readonly RoutingRequest[],
    { newContacts = false }: { newContacts?: boolean } = {},
  ): Promise<(Assignment | null)[]> {
    if (inputs.length < 2) return Promise.all(inputs.map((input) => this.assign(input)));
    const { routed, rulesOf } = await this.batches.routeNew(inputs, { newContacts });
    const results: (Assignment | null)[] = [];
    const answered = new Set<string>();
    for (const input of inputs) {
      const first = !answered.has(input.contactId);
      answered.add(input.contactId);
      const doc =
        first && routed.has(input.contactId)
          ? routed.get(input.contactId)
          : await this.resume(input, rulesOf.get(input.workspaceId) ?? null, new Date());
      results.push(routedAssignment(doc));
    }
    return results;
  }

  /**
   * The owner accepts the lead (idempotent). `ownerId`, when given, must be the current owner. An accept that
   * lands before the sweep noticed the missed SLA still counts: both are conditional on the lead being `assigned`.
   * The accept that lands announces it once (`leads.accepted`); a repeated one announces nothing.
   */
  async accept(
    workspaceId: string,
    contactId: string,
    ownerId?: string,
  ): Promise<{ status: AcceptStatus; assignment: Assignment | null }> {
    let doc = await this.store.assignmentIn(workspaceId, contactId);
    for (let attempt = 1; ; attempt += 1) {
      const now = new Date();
      const acceptance = doc && acceptanceOf(doc, ownerId, now, new Date(now.getTime() + this.leaseMs));
      if (doc && acceptance) {
        const outcome = await this.claimAccept(doc, acceptance, now);
        if (outcome) return outcome;
        doc = await this.store.assignmentIn(workspaceId, contactId);
      }
      const status = acceptStatusOf(doc, ownerId, attempt >= MAX_ACCEPT_ATTEMPTS);
      if (status !== 'retry') return { status, assignment: doc ? toAssignment(doc) : null };
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
    const doc =
      (await this.store.markClosed(workspaceId, contactId, final, now)) ??
      (await this.store.assignmentIn(workspaceId, contactId));
    if (!doc) return null;
    // Repeated on every close: a crash between the two writes is finished by the retry.
    await this.ledger.releaseHoldsOf(doc);
    return toAssignment(closedOf(doc, now, final));
  }

  /**
   * Sales recycled the lead (SQL, MQL or disqualified back to lead): the current round ends like a close and the
   * next `assign` with a cause it has not seen opens round + 1. A recycle cause acts once: it is claimed by an insert
   * of `<contactId>#recycle:<eventId>` naming the round it recycles, so its redelivery is a no-op, also after the
   * next round began. Null when the lead was never up for routing; one closed for good or `unrouted` is answered as
   * it is.
   */
  async recycle(workspaceId: string, contactId: string, cause: EventMetadata): Promise<Assignment | null> {
    for (let attempt = 0; ; attempt += 1) {
      const now = new Date();
      const doc = await this.store.assignmentIn(workspaceId, contactId);
      if (!doc) return null;
      if (recycleIsNoOp(doc, cause.eventId)) return toAssignment(doc);
      const round = doc.round ?? 1;
      const claimId = `${contactId}#recycle:${cause.eventId}`;
      const won = await this.store.insertClaim({
        _id: claimId,
        workspaceId,
        contactId,
        kind: 'recycle',
        causeId: cause.eventId,
        set: { round },
        createdAt: now,
      });
      // This cause recycled an earlier round: a redelivery.
      if (!won && ((await this.store.claimedSet(claimId))?.round ?? round) !== round)
        return toAssignment(doc);
      if (doc.state === 'recycled') {
        // Recycled already (by another cause, or by this one before a crash): finish the release, change nothing.
        await this.ledger.releaseHoldsOf(doc);
        return toAssignment(doc);
      }
      const recycled = await this.store.markRecycled(doc, recycledSetOf(doc, cause.eventId, now));
      if (recycled) {
        // The holds of the state it had: its owner's, or what an interrupted router or reassignment held.
        await this.ledger.releaseHoldsOf(doc);
        return toAssignment(recycled);
      }
      // It changed in between (a breach moved it to the next assignment, an accept): recycle what it is now.
      if (attempt + 1 >= MAX_RECYCLE_ATTEMPTS) {
        const current = await this.store.assignment(contactId);
        return current ? toAssignment(current) : null;
      }
    }
  }

  /** The lead's assignment (any state, `unrouted` included), or null when it was never up for routing. */
  async assignmentOf(workspaceId: string, contactId: string): Promise<Assignment | null> {
    const doc = await this.store.assignmentIn(workspaceId, contactId);
    return doc ? toAssignment(doc) : null;
  }

  /**
   * Accepts assignment `doc.n`, claimed by inserting `<contactId>#accept-<n>` (two accepts at once decide once), and
   * publishes its outbox; the write and its event land together, so a crash before the publish leaves it to the sweep.
   * Someone else's claim is theirs to write while their lease lasts, and finished with their `acceptedAt` (the same
   * event) once it ran out. Null when the lead changed in between (reassigned, closed).
   */
  private async claimAccept(
    doc: AssignmentDoc,
    acceptance: Acceptance,
    now: Date,
  ): Promise<{ status: AcceptStatus; assignment: Assignment } | null> {
    const claimId = `${doc._id}#accept-${doc.n}`;
    const { acceptedAt, leaseUntil } = acceptance.set;
    const [won] = await Promise.all([
      this.store.insertClaim({
        _id: claimId,
        workspaceId: doc.workspaceId,
        contactId: doc._id,
        kind: 'accept',
        causeId: acceptance.event.metadata.eventId,
        set: { acceptedAt, leaseUntil },
        createdAt: now,
      }),
      // The sweep publishes the outbox should this router stop before it does.
      this.store.arm(dueEntriesOf({ ...doc, ...acceptance.set })),
    ]);
    let decided: Acceptance | null = acceptance;
    if (!won) {
      const claimed = await this.store.claimedSet(claimId);
      if (!claimed?.acceptedAt) return null;
      if (!claimed.leaseUntil || claimed.leaseUntil > now)
        return {
          status: 'already-accepted',
          assignment: toAssignment({ ...doc, state: 'accepted', acceptedAt: claimed.acceptedAt }),
        };
      decided = acceptanceOf(doc, undefined, claimed.acceptedAt, leaseUntil ?? now);
    }
    const accepted = decided && (await this.store.markAccepted(doc, decided));
    if (!accepted) return null;
    await this.outbox.flush(accepted);
    return { status: won ? 'accepted' : 'already-accepted', assignment: toAssignment(accepted) };
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
    let doc = await this.store.assignmentIn(input.workspaceId, input.contactId);
    if (!doc) return null;
    const seen = causeSeen(doc, input.cause.eventId);
    if (doc.state === 'recycled') {
      // A cause of an earlier round (a redelivery, a replayed dead letter) does not route it again.
      if (seen) return doc;
      const opened = await this.openRound(doc, input, now);
      if (!opened) return this.store.assignment(doc._id);
      if (opened.mine) return this.assigner.route(opened.doc, rules, now);
      doc = opened.doc;
    } else if (!seen && doc.state !== 'closed' && (!doc.leaseToken || doc.leaseUntil <= now)) {
      // Remembered so that, once the lead is recycled, this cause redelivered opens no round. Not while someone
      // holds the lease: this write must not race their decision.
      await this.store.rememberCauses(doc._id, remember(doc.causeIds, input.cause.eventId));
    }
    if (doc.state === 'unrouted') return rules ? this.routeUnrouted(doc, input, rules, now) : doc;
    if (doc.leaseUntil > now) return doc;
    if (doc.state === 'routing') {
      const taken = await this.assigner.takeLease(doc, { state: 'routing', leaseToken: doc.leaseToken }, now);
      return taken ? this.assigner.route(taken, rules, now, true) : this.store.assignment(doc._id);
    }
    if (doc.pending) await this.outbox.flush(doc);
    return doc;
  }

  /** Rules exist now for an `unrouted` lead: its first real routing, caused by the event at hand. */
  private async routeUnrouted(
    doc: AssignmentDoc,
    input: RoutingRequest,
    rules: RoutingRulesVersion,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    const fresh = firstAssignment(input, now, this.leaseMs);
    await this.store.arm(dueEntriesOf({ ...doc, state: 'routing', leaseUntil: fresh.leaseUntil }));
    const taken = await this.store.takeUnrouted(doc._id, {
      state: 'routing',
      cause: fresh.cause,
      causeIds: remember(doc.causeIds, fresh.cause.eventId),
      routingAttributes: fresh.routingAttributes,
      leaseToken: fresh.leaseToken,
      leaseUntil: fresh.leaseUntil,
      updatedAt: now,
    });
    return taken ? this.assigner.route(taken, rules, now) : this.store.assignment(doc._id);
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
    const set = nextRoundOf(doc, input, now, this.leaseMs);
    const claimId = `${doc._id}#round-${set.round}`;
    const won = await this.store.insertClaim({
      _id: claimId,
      workspaceId: doc.workspaceId,
      contactId: doc._id,
      kind: 'round',
      causeId: input.cause.eventId,
      set,
      createdAt: now,
    });
    const claimed = won ? set : await this.store.claimedSet(claimId);
    if (!claimed) return null;
    // The claimant is (or may still be) writing it.
    if (!won && claimed.leaseUntil && claimed.leaseUntil > now) return null;
    await this.store.arm(dueEntriesOf({ ...doc, ...claimed }));
    const opened = await this.store.openRound(doc, {
      ...claimed,
      causeIds: remember(doc.causeIds, claimed.cause?.eventId ?? input.cause.eventId),
    });
    return opened ? { doc: opened, mine: won } : null;
  }
}
