import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AnnouncementOutbox } from './announcement-outbox';
import { AssignmentStore, type LeaseExpected, type LeaseHeld } from './assignment.store';
import { CapacityLedger } from './capacity-ledger';
import {
  decisionOf,
  holdIdOf,
  missedOwnerOf,
  routeOf,
  unroutedDecision,
  type Decision,
  type Reservation,
} from './routing-decisions';
import { pickOwner } from './routing-rules';
import type { RoutingRulesVersion } from './routing-rules.store';
import { dueEntriesOf, type AssignmentDoc, type RoutingDueDoc } from './routing.model';
import { ROUTING_OPTIONS, leaseMsOf, type RoutingOptions } from './routing.types';

/**
 * Routes one assignment under the lease its caller holds: chooses the owner round-robin within capacity, records
 * the decision with its events in one write conditional on the lease, then publishes them. Only the lease holder can
 * record an owner, which is what keeps a lead to one owner.
 */
@Injectable()
export class LeadAssigner {
  private readonly leaseMs: number;

  constructor(
    private readonly store: AssignmentStore,
    private readonly ledger: CapacityLedger,
    private readonly outbox: AnnouncementOutbox,
    @Inject(ROUTING_OPTIONS) options: RoutingOptions,
  ) {
    this.leaseMs = leaseMsOf(options);
  }

  /**
   * Chooses the owner of assignment `doc.n`, records the decision (queued when nobody can take it now) and
   * publishes it. `takeover`: a previous holder of the lease may have reserved capacity already; that hold is reused.
   */
  async route(
    doc: AssignmentDoc,
    rules: RoutingRulesVersion | null,
    now: Date,
    takeover = false,
  ): Promise<AssignmentDoc | null> {
    const lease: LeaseHeld = { _id: doc._id, state: 'routing', leaseToken: doc.leaseToken };
    // Rules are never deleted, so only a first routing meets a workspace without them.
    if (!rules) return this.decide(lease, unroutedDecision(now));
    const { team, ruleId, exclude } = routeOf(doc, rules);
    const ws = doc.workspaceId;
    const holdId = holdIdOf(doc._id, doc.n);
    const missed = missedOwnerOf(doc);
    // Before the loads are read, so the owner who missed the SLA counts as free when the lead goes back to them.
    if (missed) await this.ledger.release(ws, missed, holdIdOf(doc._id, doc.n - 1));
    const [ticket, loads, held] = await Promise.all([
      doc.ticket ?? this.ledger.nextTicket(ws, team.id),
      this.ledger.loadsOf(ws, team.members),
      takeover ? this.ledger.holderOf(holdId) : undefined,
    ]);
    let ownerId = held;
    let reserved = false;
    while (!ownerId) {
      const member = pickOwner(team.members, ticket - 1, loads, now, new Set(exclude ? [exclude] : []));
      if (!member) break;
      if (await this.ledger.reserve(ws, member, holdId)) {
        ownerId = member.ownerId;
        reserved = true;
      } else loads.set(member.ownerId, member.capacity); // filled up since the read
    }
    const decision = decisionOf(doc, { team, ruleId, rules, ticket }, ownerId ?? null, now, this.leaseMs);
    // The decision's SLA or queue entry, written with it; should that fail alone, the lease's entry brings the sweep.
    const entries = dueEntriesOf({ ...doc, ...decision.set, pending: false });
    if (!ownerId) {
      const queued = await this.decide(lease, decision, undefined, entries);
      if (takeover) await this.ledger.releaseStrays(ws, holdId, null);
      return queued;
    }
    const reservation = reserved ? { workspaceId: ws, ownerId, holdId } : undefined;
    const decided = await this.decide(lease, decision, reservation, entries);
    if (takeover && decided?.state === 'assigned' && decided.n === doc.n)
      await this.ledger.releaseStrays(ws, holdId, decided.ownerId);
    return decided;
  }

  /**
   * Takes the lease of a lead found as `expected` (one replica wins); null when another did. A lead found routing is
   * taken only once the lease there ran out.
   */
  async takeLease(
    doc: AssignmentDoc,
    expected: Omit<LeaseExpected, 'expiredBy'>,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    return this.store.takeLease(
      doc,
      { ...expected, ...(expected.state === 'routing' ? { expiredBy: now } : {}) },
      { leaseToken: randomUUID(), leaseUntil: new Date(now.getTime() + this.leaseMs) },
      now,
    );
  }

  /**
   * Writes a routing decision if the lease is still ours, then publishes what it queued. Lost the lease (the lead
   * was closed, or a slow step let another replica take over): the capacity reserved here goes back unless the lead
   * ended up with this very hold.
   */
  private async decide(
    lease: LeaseHeld,
    decision: Decision,
    reservation?: Reservation,
    entries: readonly RoutingDueDoc[] = [],
  ): Promise<AssignmentDoc | null> {
    const [decided] = await Promise.all([
      this.store.recordDecision(lease, decision),
      this.store.arm(entries),
    ]);
    if (decided) {
      if (decided.pending) await this.outbox.flush(decided);
      return decided;
    }
    const current = await this.store.assignment(lease._id);
    if (reservation) await this.ledger.releaseUnlessAdopted(current, reservation);
    return current;
  }
}
