import { Inject, Injectable } from '@nestjs/common';
import type { FilterQuery, Model, UpdateQuery } from 'mongoose';
import {
  findByIds,
  guardedUpserts,
  insertClaims,
  isDuplicateKey,
  type BatchCollection,
  type UpsertCollection,
} from '@tributary/store';
import type { Decision } from './routing-decisions';
import {
  ASSIGNMENT_MODEL,
  OWNER_LOAD_MODEL,
  QUEUE_END,
  QUEUE_PREFIX,
  ROUTING_ANNOUNCEMENT_MODEL,
  ROUTING_CLAIM_MODEL,
  ROUTING_CURSOR_MODEL,
  ROUTING_DUE_MODEL,
  ROUTING_HOLD_MODEL,
  WAKE_PREFIX,
  wakeBound,
  type AssignmentDoc,
  type AssignmentState,
  type OwnerLoadDoc,
  type RoutingAnnouncementDoc,
  type RoutingClaimDoc,
  type RoutingCursorDoc,
  type RoutingDueDoc,
  type RoutingHoldDoc,
} from './routing.model';

/** An owner's open-lead count to raise by `units`, only if it stays within `capacity`. */
export interface CapacityCount {
  loadId: string;
  workspaceId: string;
  ownerId: string;
  capacity: number;
  units: number;
}

/** The lease a routing decision is written under: it lands only while the lead is still in it. */
export interface LeaseHeld {
  _id: string;
  state: string;
  leaseToken: string | null;
}

/** What a lead must still be for a new lease on it to be taken; `expiredBy`: the lease there ran out by then. */
export interface LeaseExpected {
  state: AssignmentState;
  leaseToken?: string | null;
  pending?: boolean;
  expiredBy?: Date;
}

/** A team the sweep found full: its queued leads are left out of the next page. */
export interface TeamRef {
  workspaceId: string;
  teamId: string | null;
}

/** The driver collections the platform's batch helpers read and write through (one cast each, here only). */
const batchOf = <T>(model: Model<T>): BatchCollection<T> => model.collection as unknown as BatchCollection<T>;

/**
 * Routing's storage: every read and write of its seven collections. Exactly-once decisions rest on inserts by `_id`
 * (claims, holds), which have one winner on every store; everything else is a conditional write. The tuning for
 * FerretDB (which serves no index but `_id`, and retries each document of an insert that met a duplicate) lives
 * here; docs/architecture.md ("Routing") tells the story.
 */
@Injectable()
export class AssignmentStore {
  constructor(
    @Inject(ASSIGNMENT_MODEL) private readonly assignments: Model<AssignmentDoc>,
    @Inject(ROUTING_CLAIM_MODEL) private readonly claims: Model<RoutingClaimDoc>,
    @Inject(ROUTING_CURSOR_MODEL) private readonly cursors: Model<RoutingCursorDoc>,
    @Inject(OWNER_LOAD_MODEL) private readonly loads: Model<OwnerLoadDoc>,
    @Inject(ROUTING_HOLD_MODEL) private readonly holds: Model<RoutingHoldDoc>,
    @Inject(ROUTING_ANNOUNCEMENT_MODEL) private readonly announcements: Model<RoutingAnnouncementDoc>,
    @Inject(ROUTING_DUE_MODEL) private readonly due: Model<RoutingDueDoc>,
  ) {}

  // --- assignments ---

  /** Inserts a lead's claim; false when the lead has one already (someone else routes it). */
  async insertAssignment(doc: AssignmentDoc): Promise<boolean> {
    return insertOnce(this.assignments, doc);
  }

  /** Inserts assignments in one command; returns the positions someone else had inserted first. */
  async insertAssignments(docs: readonly AssignmentDoc[]): Promise<Set<number>> {
    return insertClaims(batchOf(this.assignments), docs);
  }

  async assignment(contactId: string): Promise<AssignmentDoc | null> {
    return this.assignments.findById(contactId).lean<AssignmentDoc>();
  }

  /** A lead's assignment, seen from its workspace only. */
  async assignmentIn(workspaceId: string, contactId: string): Promise<AssignmentDoc | null> {
    return this.assignments.findOne({ _id: contactId, workspaceId }).lean<AssignmentDoc>();
  }

  async assignmentsByIds(contactIds: readonly string[]): Promise<Map<string, AssignmentDoc>> {
    return findByIds(batchOf(this.assignments), contactIds);
  }

  /** Which of these leads have an assignment (one `_id` read). */
  async assignedIds(contactIds: readonly string[]): Promise<Set<string>> {
    return new Set((await findByIds(batchOf(this.assignments), contactIds, { _id: 1 })).keys());
  }

  /**
   * Writes the accept and appends its event to the outbox in one update, if the lead is still assignment `doc.n`,
   * assigned to the same owner; null when it was not (accepted, reassigned or closed meanwhile).
   */
  async markAccepted(doc: AssignmentDoc, acceptance: Decision): Promise<AssignmentDoc | null> {
    return this.updated(
      { _id: doc._id, workspaceId: doc.workspaceId, n: doc.n, state: 'assigned', ownerId: doc.ownerId },
      { $set: acceptance.set, $push: { outbox: { $each: acceptance.outbox } } },
    );
  }

  /** Closes the lead (for good when `final`) unless it is so already; returns it as it was before, if it changed. */
  async markClosed(
    workspaceId: string,
    contactId: string,
    final: boolean,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    return this.assignments
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
  }

  /** Writes the recycle if the lead is still the assignment and state of `doc` and not closed for good. */
  async markRecycled(doc: AssignmentDoc, set: Partial<AssignmentDoc>): Promise<AssignmentDoc | null> {
    return this.updated({ _id: doc._id, n: doc.n, state: doc.state, final: { $ne: true } }, { $set: set });
  }

  async rememberCauses(contactId: string, causeIds: string[]): Promise<void> {
    await this.assignments.updateOne({ _id: contactId }, { $set: { causeIds } });
  }

  /** Starts routing an `unrouted` lead (its workspace has rules now); null when someone else did. */
  async takeUnrouted(contactId: string, set: Partial<AssignmentDoc>): Promise<AssignmentDoc | null> {
    return this.updated({ _id: contactId, state: 'unrouted' }, { $set: set });
  }

  /** Writes the next round of a lead still recycled at assignment `doc.n`. */
  async openRound(doc: AssignmentDoc, set: Partial<AssignmentDoc>): Promise<AssignmentDoc | null> {
    return this.updated({ _id: doc._id, n: doc.n, state: 'recycled' }, { $set: set });
  }

  /** Writes a claimed breach if assignment `doc.n` is still assigned, published and past its SLA at `now`. */
  async writeBreach(
    doc: AssignmentDoc,
    set: Partial<AssignmentDoc>,
    now: Date,
  ): Promise<AssignmentDoc | null> {
    return this.updated(
      { _id: doc._id, n: doc.n, state: 'assigned', pending: false, acceptDueAt: { $lte: now } },
      { $set: set },
    );
  }

  /** Takes the lease of assignment `doc.n` if the lead is as `expected` (one replica wins); null otherwise. */
  async takeLease(
    doc: AssignmentDoc,
    { expiredBy, ...expected }: LeaseExpected,
    lease: { leaseToken: string; leaseUntil: Date },
    now: Date,
  ): Promise<AssignmentDoc | null> {
    return this.updated(
      { _id: doc._id, n: doc.n, ...expected, ...(expiredBy ? { leaseUntil: { $lte: expiredBy } } : {}) },
      { $set: { state: 'routing', ...lease, updatedAt: now } },
    );
  }

  /** Records a decision and appends its events to the outbox, if the lease is still the one held. */
  async recordDecision(lease: LeaseHeld, decision: Decision): Promise<AssignmentDoc | null> {
    const push = decision.outbox.length > 0 ? { $push: { outbox: { $each: decision.outbox } } } : {};
    return this.updated(lease, { $set: decision.set, ...push });
  }

  /**
   * Empties the outbox of assignment `doc.n` once published (a later assignment keeps its own), unless it grew
   * meanwhile: an accept appends outside the lease, and its entry waits for its own flush.
   */
  async clearOutbox(doc: AssignmentDoc): Promise<void> {
    const last = doc.outbox.length - 1;
    await this.assignments.updateOne(
      {
        _id: doc._id,
        n: doc.n,
        pending: true,
        outbox: { $size: doc.outbox.length },
        [`outbox.${last}.event.metadata.eventId`]: doc.outbox[last]?.event.metadata.eventId,
      },
      { $set: { outbox: [], pending: false, leaseToken: null, updatedAt: new Date() } },
    );
  }

  /**
   * Leads due at `now` found by scanning the assignments (past their SLA, a lease run out, queued), up to `limit` of
   * each kind. One query after another: each reads the whole table, and several at once took both cores of the
   * store from the routing of new leads.
   */
  async dueByScan(now: Date, limit: number): Promise<AssignmentDoc[]> {
    const found: AssignmentDoc[] = [];
    for (const filter of [
      { state: 'assigned', pending: false, acceptDueAt: { $lte: now } },
      { state: 'routing', leaseUntil: { $lte: now } },
      { pending: true, leaseUntil: { $lte: now } },
      { state: 'queued', pending: false },
    ])
      found.push(...(await this.assignments.find(filter).limit(limit).lean<AssignmentDoc[]>()));
    return found;
  }

  /** One conditional update: the lead as it is after it, or null when it did not match `filter`. */
  private async updated(
    filter: FilterQuery<AssignmentDoc>,
    update: UpdateQuery<AssignmentDoc>,
  ): Promise<AssignmentDoc | null> {
    return this.assignments.findOneAndUpdate(filter, update, { new: true }).lean<AssignmentDoc>();
  }

  // --- decision claims ---

  /** Inserts an exclusive claim; false when it exists already (someone else took this decision). */
  async insertClaim(doc: RoutingClaimDoc): Promise<boolean> {
    return insertOnce(this.claims, doc);
  }

  /** What the claim's winner writes into the assignment (null when nobody claimed it). */
  async claimedSet(claimId: string): Promise<Partial<AssignmentDoc> | null> {
    return (await this.claims.findById(claimId).lean<RoutingClaimDoc>())?.set ?? null;
  }

  // --- capacity: cursors, loads, holds ---

  /** Moves a team's round-robin cursor by `count` (created at 0 if missing); returns its new position. */
  async moveCursor(workspaceId: string, teamId: string, count: number): Promise<number> {
    const move = () =>
      this.cursors
        .findOneAndUpdate(
          { _id: `${workspaceId}:${teamId}` },
          { $inc: { seq: count } },
          { upsert: true, new: true },
        )
        .lean<RoutingCursorDoc>();
    // Two first moves of a new team's cursor at once both try to insert it; the loser finds it on the second try.
    const cursor = await move().catch((error: unknown) => {
      if (isDuplicateKey(error)) return move();
      throw error;
    });
    return cursor?.seq ?? count;
  }

  /** Open leads per owner (missing: none yet), one `_id` read. */
  async loadsOf(loadIds: readonly string[]): Promise<Map<string, number>> {
    const docs = await this.loads
      .find({ _id: { $in: loadIds } }, { ownerId: 1, open: 1 })
      .lean<Pick<OwnerLoadDoc, 'ownerId' | 'open'>[]>();
    return new Map(docs.map((doc) => [doc.ownerId, doc.open]));
  }

  async ownerLoads(): Promise<OwnerLoadDoc[]> {
    return this.loads.find({}, { workspaceId: 1, ownerId: 1, open: 1 }).lean<OwnerLoadDoc[]>();
  }

  /**
   * Raises each owner's count if it stays within their capacity (a missing load is created), all in one bulk of
   * guarded upserts; returns the positions refused. A conditional update per owner had cost one command each.
   */
  async countUnderCapacity(counts: readonly CapacityCount[]): Promise<Set<number>> {
    const loads = this.loads.collection as unknown as UpsertCollection;
    const guarded = counts.map(({ loadId, workspaceId, ownerId, capacity, units }) => ({
      filter: { _id: loadId, open: { $lte: capacity - units } },
      update: { $inc: { open: units }, $set: { workspaceId, ownerId } },
    }));
    const refused = [...(await guardedUpserts(loads, guarded))];
    if (refused.length === 0) return new Set();
    // Two first counts on a new owner both insert their load, and the loser is refused as if full: the refused are
    // asked once more, when the load exists and only its guard decides (a refused update changed nothing).
    const again = await guardedUpserts(
      loads,
      refused.flatMap((index) => guarded[index] ?? []),
    );
    return new Set(refused.filter((_, i) => again.has(i)));
  }

  async uncount(loadId: string): Promise<void> {
    await this.loads.updateOne({ _id: loadId }, { $inc: { open: -1 } });
  }

  /** Sets an owner's count to `to` if it is still `from`; false when it moved meanwhile. */
  async correctOpen(loadId: string, from: number, to: number): Promise<boolean> {
    const { modifiedCount } = await this.loads.updateOne({ _id: loadId, open: from }, { $set: { open: to } });
    return modifiedCount > 0;
  }

  /** Inserts capacity holds in one command; returns the positions that existed already. */
  async insertHolds(holds: readonly RoutingHoldDoc[]): Promise<Set<number>> {
    return insertClaims(batchOf(this.holds), holds);
  }

  async holderOf(holdId: string): Promise<string | undefined> {
    const hold = await this.holds.findById(holdId, { ownerId: 1 }).lean<Pick<RoutingHoldDoc, 'ownerId'>>();
    return hold?.ownerId;
  }

  /** Deletes the owner's hold; true only for the call that deleted it. */
  async deleteHold(holdId: string, ownerId: string): Promise<boolean> {
    const { deletedCount } = await this.holds.deleteOne({ _id: holdId, ownerId });
    return deletedCount > 0;
  }

  async deleteHolds(holdIds: readonly string[], ownerId: string): Promise<void> {
    await this.holds.deleteMany({ _id: { $in: holdIds }, ownerId });
  }

  async countHolds(workspaceId: string, ownerId: string): Promise<number> {
    return this.holds.countDocuments({ workspaceId, ownerId });
  }

  // --- batch announcements ---

  async insertAnnouncement(doc: RoutingAnnouncementDoc): Promise<void> {
    await this.announcements.collection.insertOne(doc as never);
  }

  async deleteAnnouncements(ids: readonly string[]): Promise<void> {
    await this.announcements.deleteMany({ _id: { $in: ids } });
  }

  /** Announcements written at or before `at`, up to `limit`. */
  async announcementsUpTo(at: Date, limit: number): Promise<RoutingAnnouncementDoc[]> {
    return this.announcements
      .find({ createdAt: { $lte: at } })
      .limit(limit)
      .lean<RoutingAnnouncementDoc[]>();
  }

  // --- the sweep's index of due work (`_id` ranges: the only filter FerretDB serves from an index) ---

  /** Adds entries to the index; one there already stays as it is. */
  async arm(entries: readonly RoutingDueDoc[]): Promise<void> {
    await insertClaims(batchOf(this.due), entries);
  }

  /**
   * `arm` for entries that mostly exist already: read first by `_id`, so that only the missing ones are inserted (a
   * duplicate in an insert costs FerretDB a retry of each document alone). Returns those added.
   */
  async armMissing(entries: readonly RoutingDueDoc[]): Promise<RoutingDueDoc[]> {
    const unique = [...new Map(entries.map((entry) => [entry._id, entry])).values()];
    if (unique.length === 0) return [];
    const existing = await findByIds(
      batchOf(this.due),
      unique.map((entry) => entry._id),
      { _id: 1 },
    );
    const missing = unique.filter((entry) => !existing.has(entry._id));
    await this.arm(missing);
    return missing;
  }

  /** Wake-ups due at or before `now`, oldest first. */
  async wakesUpTo(now: Date, limit: number): Promise<RoutingDueDoc[]> {
    return this.duePage({ _id: { $gte: WAKE_PREFIX, $lt: wakeBound(now) } }, limit);
  }

  /** Queued leads, oldest first, but those of the teams in `skip`. */
  async queued(skip: readonly TeamRef[], limit: number): Promise<RoutingDueDoc[]> {
    return this.duePage(
      { _id: { $gte: QUEUE_PREFIX, $lt: QUEUE_END }, ...(skip.length > 0 ? { $nor: [...skip] } : {}) },
      limit,
    );
  }

  async disarm(ids: readonly string[]): Promise<void> {
    await this.due.deleteMany({ _id: { $in: ids } });
  }

  private async duePage(filter: Record<string, unknown>, limit: number): Promise<RoutingDueDoc[]> {
    return this.due.find(filter).sort({ _id: 1 }).limit(limit).lean<RoutingDueDoc[]>();
  }
}

/** Inserts a document by `_id`: false when it exists (E11000), the one write with exactly one winner everywhere. */
async function insertOnce<T>(model: Model<T>, doc: T): Promise<boolean> {
  try {
    await model.collection.insertOne(doc as never);
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}
