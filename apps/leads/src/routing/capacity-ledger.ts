import { Inject, Injectable } from '@nestjs/common';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { AssignmentStore } from './assignment.store';
import {
  holdIdOf,
  isAdopted,
  loadIdOf,
  missedOwnerOf,
  recountVerdict,
  type Reservation,
} from './routing-decisions';
import type { RoutingMember } from './routing-rules';
import type { AssignmentDoc } from './routing.model';

/** One owner's share of a batch: the holds of the leads picked for them. */
export interface OwnerPicks {
  workspaceId: string;
  member: RoutingMember;
  holdIds: string[];
}

/**
 * Owners' capacity and teams' turns. Each open lead an owner counts (`open`) has a hold (`<contactId>#<n>`): the hold
 * is inserted before the count goes up and deleted before it goes down, so a retry never counts or frees a lead
 * twice; a crash between the two leaves the count one off, which `recountLoads` corrects.
 */
@Injectable()
export class CapacityLedger {
  /** Each load's mismatch (`open` vs holds) at its last recount: corrected only when the next one sees the same. */
  private readonly mismatches = new Map<string, { open: number; held: number }>();
  /** The last load the recount reached (`_id` order); the next recount goes on after it. */
  private recountAfter = '';

  constructor(
    private readonly store: AssignmentStore,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  /** The next round-robin position of a team (1, 2, ...). */
  async nextTicket(workspaceId: string, teamId: string): Promise<number> {
    return this.takeTickets(workspaceId, teamId, 1);
  }

  /** Takes `count` consecutive round-robin positions of a team; returns the last (they end there). */
  async takeTickets(workspaceId: string, teamId: string, count: number): Promise<number> {
    return this.store.moveCursor(workspaceId, teamId, count);
  }

  /** Open leads per owner of a team. */
  async loadsOf(workspaceId: string, members: readonly RoutingMember[]): Promise<Map<string, number>> {
    return this.store.loadsOf(members.map((member) => loadIdOf(workspaceId, member.ownerId)));
  }

  /** The owner already holding capacity for this assignment (left by an interrupted router), if any. */
  async holderOf(holdId: string): Promise<string | undefined> {
    return this.store.holderOf(holdId);
  }

  /**
   * Takes one unit of the owner's capacity for `holdId`, exactly once: the hold first, then the count under the
   * capacity; refused, the hold is taken back. A retry finds its hold and does not count it again.
   */
  async reserve(workspaceId: string, member: RoutingMember, holdId: string): Promise<boolean> {
    if (member.capacity <= 0) return false;
    const hold = { _id: holdId, workspaceId, ownerId: member.ownerId, createdAt: new Date() };
    const inserted = (await this.store.insertHolds([hold])).size === 0;
    // Held already: counted when it is this owner's (a retry); another owner's is a stray its takeover gives back.
    if (!inserted) return (await this.store.holderOf(holdId)) === member.ownerId;
    const refused = await this.store.countUnderCapacity([
      {
        loadId: loadIdOf(workspaceId, member.ownerId),
        workspaceId,
        ownerId: member.ownerId,
        capacity: member.capacity,
        units: 1,
      },
    ]);
    if (refused.size === 0) return true;
    await this.store.deleteHold(holdId, member.ownerId);
    return false;
  }

  /**
   * Capacity for a batch's picks: all holds in one insert, then every owner counted in one bulk, each only if all
   * their picks fit. Returns the owners who did not fit or met a hold someone else had, their holds taken back.
   */
  async reserveMany<T extends OwnerPicks>(owners: readonly T[], now: Date): Promise<T[]> {
    const holds = owners.flatMap(({ workspaceId, member, holdIds }) =>
      holdIds.map((_id) => ({ _id, workspaceId, ownerId: member.ownerId, createdAt: now })),
    );
    const taken = await this.store.insertHolds(holds);
    let next = 0;
    const tries = owners.map((owner) => {
      const start = next;
      next += owner.holdIds.length;
      const ours = holds.slice(start, next).filter((_, i) => !taken.has(start + i));
      const clash = ours.length < owner.holdIds.length || owner.member.capacity < owner.holdIds.length;
      return { owner, ours, clash };
    });
    const fitting = tries.filter(({ clash }) => !clash);
    const overfull = await this.store.countUnderCapacity(
      fitting.map(({ owner: { workspaceId, member, holdIds } }) => ({
        loadId: loadIdOf(workspaceId, member.ownerId),
        workspaceId,
        ownerId: member.ownerId,
        capacity: member.capacity,
        units: holdIds.length,
      })),
    );
    const counted = new Set(fitting.filter((_, index) => !overfull.has(index)));
    const refused = tries.filter((attempt) => !counted.has(attempt));
    await Promise.all(
      refused.map(async ({ owner, ours }) => {
        if (ours.length > 0)
          await this.store.deleteHolds(
            ours.map((hold) => hold._id),
            owner.member.ownerId,
          );
      }),
    );
    return refused.map(({ owner }) => owner);
  }

  /** Gives back the capacity `holdId` took, exactly once: only the call that deletes the hold uncounts it. */
  async release(workspaceId: string, ownerId: string, holdId: string): Promise<void> {
    if (await this.store.deleteHold(holdId, ownerId))
      await this.store.uncount(loadIdOf(workspaceId, ownerId));
  }

  /**
   * After a takeover: capacity a stalled previous holder reserved for this assignment on anyone but the chosen
   * owner goes back (it cannot record its choice any more; its own failed write releases what it reserves later).
   */
  async releaseStrays(workspaceId: string, holdId: string, keptOwnerId: string | null): Promise<void> {
    const holder = await this.store.holderOf(holdId);
    if (holder && holder !== keptOwnerId) await this.release(workspaceId, holder, holdId);
  }

  /**
   * Frees the capacity a lead in the state `doc` holds (idempotent): its owner's, what a router interrupted mid-way
   * reserved for an owner it never recorded, and the hold of the owner who missed the SLA when the reassignment was
   * interrupted before it freed it.
   */
  async releaseHoldsOf(doc: AssignmentDoc): Promise<void> {
    const ws = doc.workspaceId;
    const holdId = holdIdOf(doc._id, doc.n);
    if (doc.ownerId) await this.release(ws, doc.ownerId, holdId);
    else if (doc.state === 'routing') await this.releaseStrays(ws, holdId, null);
    const missed = missedOwnerOf(doc);
    if (missed) await this.release(ws, missed, holdIdOf(doc._id, doc.n - 1));
  }

  /** A decision lost its lease: the capacity it reserved goes back unless the lead ended up with this very hold. */
  async releaseUnlessAdopted(current: AssignmentDoc | null, reservation: Reservation): Promise<void> {
    if (!isAdopted(current, reservation))
      await this.release(reservation.workspaceId, reservation.ownerId, reservation.holdId);
  }

  /**
   * Corrects owners' `open` counts from their holds (the truth). A mismatch is corrected only when the owner's next
   * recount finds the very same one, and only if `open` has not moved since (conditional write). Recounts `limit`
   * owners, going on from where the last call stopped (all of them by default); returns how many were corrected.
   */
  async recountLoads(limit = Number.POSITIVE_INFINITY): Promise<number> {
    const loads = (await this.store.ownerLoads()).sort((a, b) =>
      a._id < b._id ? -1 : a._id > b._id ? 1 : 0,
    );
    const turn = loads.filter((load) => load._id > this.recountAfter).slice(0, limit);
    // Past the last owner, the next call starts again from the first.
    this.recountAfter = turn.length === limit ? (turn.at(-1)?._id ?? '') : '';
    let corrected = 0;
    for (const load of turn) {
      const held = await this.store.countHolds(load.workspaceId, load.ownerId);
      const verdict = recountVerdict(this.mismatches.get(load._id), load.open, held);
      this.mismatches.delete(load._id);
      if (verdict === 'watch') this.mismatches.set(load._id, { open: load.open, held });
      if (verdict !== 'correct' || !(await this.store.correctOpen(load._id, load.open, held))) continue;
      corrected += 1;
      this.logger.warn(
        { event: 'routing-load-recounted', loadId: load._id, open: load.open, held },
        "an owner's open-lead count did not match their capacity holds; corrected",
      );
    }
    return corrected;
  }
}
