import { Schema, type Connection, type Model } from 'mongoose';
import type { EventMetadata, LeadAccepted, LeadAssigned, LeadSlaBreached } from '@tributary/contracts';
import type { ContactAttributes } from '../contacts/contact-attributes';
import type { RoutingRules } from './routing-rules';

/**
 * Where a lead stands in routing:
 * - `unrouted`: its workspace had no routing rules when it was to be routed;
 * - `routing`: someone holds the lease and is choosing an owner (or a crash left it; the lease then expires);
 * - `queued`: nobody in the team could take it (capacity, working hours); the sweeper retries;
 * - `assigned`: an owner has it and must accept before `acceptDueAt`;
 * - `accepted`: the owner took it; `closed`: disqualified, converted or merged away, the owner's capacity is free
 *   again, and no `assign` routes it again (only a `recycle` of a lead that is not `final` reopens it);
 * - `recycled`: sales sent it back to nurture; the owner's capacity is free and the next `assign` with a cause this
 *   lead has not seen yet opens a new round (a new owner, round-robin going on).
 */
export type AssignmentState =
  'unrouted' | 'routing' | 'queued' | 'assigned' | 'accepted' | 'closed' | 'recycled';

/**
 * Why assignment `n` went to its owner: `routed` (first round), `requalified` (first assignment of a later round,
 * after a recycle), `sla-reassigned` (the previous owner missed the SLA: another member of the team, or of the
 * fallback team when theirs has nobody else), `sla-renewed` (nobody else can ever take it: back to the owner who
 * missed it, with a fresh SLA).
 */
export type AssignmentReason = 'routed' | 'requalified' | 'sla-reassigned' | 'sla-renewed';

/** An event decided together with a state change and published after it (a one-document outbox). */
export type OutboxEntry =
  | { topic: 'leads.assigned'; event: LeadAssigned }
  | { topic: 'leads.sla-breached'; event: LeadSlaBreached }
  | { topic: 'leads.accepted'; event: LeadAccepted };

/** One lead's assignment: a single document per lead, keyed by contactId, so the claim is an insert. */
export interface AssignmentDoc {
  _id: string;
  workspaceId: string;
  state: AssignmentState;
  /**
   * 1 for the first owner, +1 per SLA reassignment and per new round; never reused within a lead, so it names the
   * capacity hold and the derived event ids of each assignment.
   */
  n: number;
  /** 1, then +1 each time a recycled lead is routed again; taken by an insert claim (`<contactId>#round-<r>`). */
  round?: number;
  /** Event ids of the causes `assign` saw for this lead (bounded): a redelivered one never opens a new round. */
  causeIds?: string[];
  /** Event ids of the recycles applied (bounded): a redelivered recycle is a no-op. */
  recycleIds?: string[];
  recycledAt?: Date | null;
  /** Closed for good (a customer, a merged-away contact): not even a recycle reopens it. */
  final?: boolean;
  reason: AssignmentReason;
  ownerId: string | null;
  previousOwnerId: string | null;
  teamId: string | null;
  ruleId: string | null;
  rulesVersion: number | null;
  /** Round-robin position taken for assignment `n` (kept so a queued lead does not take the cursor again). */
  ticket: number | null;
  /** What the team choice reads (territory, segment), so whoever finishes the routing chooses the same team. */
  routingAttributes: Pick<ContactAttributes, 'country' | 'region' | 'companySize'>;
  /** The event that caused assignment `n`: the scored or captured lead, or the SLA breach. */
  cause: EventMetadata;
  /** Metadata of the `leads.assigned` announcing assignment `n` (null until an owner is chosen). */
  metadata: EventMetadata | null;
  assignedAt: Date | null;
  acceptDueAt: Date | null;
  acceptedAt: Date | null;
  closedAt: Date | null;
  queuedAt: Date | null;
  /** The breach that started assignment `n` (n > 1), announced once the reassignment is decided. */
  breach: Omit<LeadSlaBreached, 'reassignedTo'> | null;
  /** Who may work on the document until when (claim, queued retry, breach); an expired lease can be taken over. */
  leaseToken: string | null;
  leaseUntil: Date;
  /** Events decided but not yet acknowledged by Kafka; `pending` mirrors "outbox not empty" for the sweep query. */
  outbox: OutboxEntry[];
  pending: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const assignmentSchema = new Schema<AssignmentDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    state: { type: String, required: true },
    n: { type: Number, required: true },
    round: { type: Number, default: 1 },
    causeIds: { type: [String], default: [] },
    recycleIds: { type: [String], default: [] },
    recycledAt: { type: Date, default: null },
    final: { type: Boolean, default: false },
    reason: { type: String, required: true },
    ownerId: { type: String, default: null },
    previousOwnerId: { type: String, default: null },
    teamId: { type: String, default: null },
    ruleId: { type: String, default: null },
    rulesVersion: { type: Number, default: null },
    ticket: { type: Number, default: null },
    routingAttributes: { type: Schema.Types.Mixed, default: {} },
    cause: { type: Schema.Types.Mixed, required: true },
    metadata: { type: Schema.Types.Mixed, default: null },
    assignedAt: { type: Date, default: null },
    acceptDueAt: { type: Date, default: null },
    acceptedAt: { type: Date, default: null },
    closedAt: { type: Date, default: null },
    queuedAt: { type: Date, default: null },
    breach: { type: Schema.Types.Mixed, default: null },
    leaseToken: { type: String, default: null },
    leaseUntil: { type: Date, required: true },
    outbox: { type: Schema.Types.Mixed, default: [] },
    pending: { type: Boolean, default: false },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'lead_assignments', minimize: false },
);
// The reconciling scan's filter (docs/architecture.md, "The sweep's index of due work", says how each store serves it).
assignmentSchema.index({ state: 1, acceptDueAt: 1 });

/**
 * An exclusive decision about one lead, taken by inserting its `_id` (an insert has one winner on every store):
 * `<contactId>#round-<r>` opens round r, `<contactId>#breach-<n>` breaches assignment n, `<contactId>#accept-<n>`
 * accepts assignment n, `<contactId>#recycle:<eventId>` applies one recycle cause (to the round in `set.round`). `set`
 * is what the winner writes into the assignment, so whoever finds a claim its winner left half-way (the lease in `set`
 * ran out) can finish it with the same content.
 */
export interface RoutingClaimDoc {
  _id: string;
  workspaceId: string;
  contactId: string;
  kind: 'round' | 'recycle' | 'breach' | 'accept';
  /** Event id of the cause that won the claim. */
  causeId: string;
  set: Partial<AssignmentDoc> | null;
  createdAt: Date;
}

const claimSchema = new Schema<RoutingClaimDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    contactId: { type: String, required: true },
    kind: { type: String, required: true },
    causeId: { type: String, required: true },
    set: { type: Schema.Types.Mixed, default: null },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'routing_claims', minimize: false },
);

/** Round-robin position per workspace and team (`<ws>:<teamId>`), advanced with an atomic `$inc`. */
export interface RoutingCursorDoc {
  _id: string;
  seq: number;
}

const cursorSchema = new Schema<RoutingCursorDoc>(
  { _id: { type: String, required: true }, seq: { type: Number, required: true, default: 0 } },
  { versionKey: false, collection: 'routing_cursors' },
);

/**
 * An owner's open leads (`<ws>:<ownerId>`): the count routing compares with their capacity. Each lead counted in it
 * has a hold (`RoutingHoldDoc`), which makes taking and giving back capacity happen once per assignment.
 */
export interface OwnerLoadDoc {
  _id: string;
  workspaceId: string;
  ownerId: string;
  open: number;
}

const ownerLoadSchema = new Schema<OwnerLoadDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    ownerId: { type: String, required: true },
    open: { type: Number, required: true, default: 0 },
  },
  { versionKey: false, collection: 'routing_owner_loads' },
);

/**
 * Capacity that assignment `n` of a lead holds on its owner (`_id` = `<contactId>#<n>`): inserted before the owner's
 * `open` goes up, deleted before it goes down, so a retry never counts or frees it twice. Its own documents, not a
 * list in the load document, which grew with every open lead.
 */
export interface RoutingHoldDoc {
  _id: string;
  workspaceId: string;
  ownerId: string;
  createdAt: Date;
}

const holdSchema = new Schema<RoutingHoldDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    ownerId: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'routing_holds' },
);
// The recount's per-owner count of holds.
holdSchema.index({ workspaceId: 1, ownerId: 1 });

/**
 * The decisions of a routed batch whose `leads.assigned` events are due, written before its assignments and deleted
 * once they are published: the batch's outbox, one document for all its leads instead of an outbox in each assignment
 * that had to be cleared lead by lead. A crash leaves it behind; the sweep then publishes the events of the leads
 * whose assignment landed as decided here (assignment 1, this owner and event id, assigned at `createdAt`), each
 * rebuilt from its assignment. Only what identifies a decision is kept: the store encodes and decodes every value.
 */
export interface RoutingAnnouncementDoc {
  _id: string;
  leads: { contactId: string; ownerId: string; eventId: string }[];
  /** When the batch decided, i.e. each of its assignments' `assignedAt`. */
  createdAt: Date;
}

const announcementSchema = new Schema<RoutingAnnouncementDoc>(
  {
    _id: { type: String, required: true },
    leads: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'routing_announcements' },
);
// The sweep's filter: batches left behind longer than a lease.
announcementSchema.index({ createdAt: 1 });

/**
 * The sweep's index of work falling due, keyed by time in `_id` (the one field every store serves ranges of from an
 * index, so the sweep never scans the assignments):
 * - `t|<ms>|<contactId>` wakes the sweep for a lead whose SLA, lease or outbox falls due at <ms>;
 * - `q|<queuedAt ms>|<contactId>` lists a queued lead (its team and workspace for the sweep's filter), oldest first.
 * Written beside the write that makes a lead due, or before it; an entry of a lead that moved on is dropped when the
 * sweep comes to it, and one for a lead due later is replaced by one at its new time.
 */
export interface RoutingDueDoc {
  _id: string;
  contactId: string;
  workspaceId: string;
  teamId: string | null;
}

const dueSchema = new Schema<RoutingDueDoc>(
  {
    _id: { type: String, required: true },
    contactId: { type: String, required: true },
    workspaceId: { type: String, required: true },
    teamId: { type: String, default: null },
  },
  { versionKey: false, collection: 'routing_due' },
);

/** Milliseconds as fixed-width digits: as strings they sort as the times do. */
const stampOf = (at: Date): string => String(at.getTime()).padStart(15, '0');
export const WAKE_PREFIX = 't|';
export const QUEUE_PREFIX = 'q|';
/** Every wake-up at or before `at` sorts below this bound (`_id < bound`). */
export const wakeBound = (at: Date): string => `${WAKE_PREFIX}${stampOf(new Date(at.getTime() + 1))}`;
/** Past every queue entry (`|` sorts below `}`). */
export const QUEUE_END = 'q}';

/** When the sweep must look at a lead in state `doc` next: its lease or outbox, else its SLA; null when never. */
export function wakeAtOf(
  doc: Pick<AssignmentDoc, 'state' | 'pending' | 'leaseUntil' | 'acceptDueAt'>,
): Date | null {
  if (doc.pending || doc.state === 'routing') return doc.leaseUntil;
  return doc.state === 'assigned' ? doc.acceptDueAt : null;
}

/**
 * The entries of `routing_due` a lead in state `doc` needs (see RoutingDueDoc). A wake-up is never earlier than
 * `notBefore`: a lead the sweep left due (its step failed, someone else's claim) comes up again at the next sweep,
 * without blocking the ones behind it in this one.
 */
export function dueEntriesOf(
  doc: Pick<
    AssignmentDoc,
    '_id' | 'workspaceId' | 'teamId' | 'state' | 'pending' | 'leaseUntil' | 'acceptDueAt' | 'queuedAt'
  >,
  notBefore?: Date,
): RoutingDueDoc[] {
  const of = (id: string): RoutingDueDoc => ({
    _id: id,
    contactId: doc._id,
    workspaceId: doc.workspaceId,
    teamId: doc.teamId ?? null,
  });
  const entries: RoutingDueDoc[] = [];
  const wakeAt = wakeAtOf(doc);
  if (wakeAt) {
    const at = notBefore && wakeAt < notBefore ? notBefore : wakeAt;
    entries.push(of(`${WAKE_PREFIX}${stampOf(at)}|${doc._id}`));
  }
  if (doc.state === 'queued' && doc.queuedAt)
    entries.push(of(`${QUEUE_PREFIX}${stampOf(doc.queuedAt)}|${doc._id}`));
  return entries;
}

/** A version of a workspace's rules (`<ws>:<version>`, immutable) or its head (`<ws>:head`, the current one). */
export interface RoutingRulesDoc {
  _id: string;
  workspaceId: string;
  version: number;
  rules: RoutingRules;
  createdAt: Date;
}

const rulesSchema = new Schema<RoutingRulesDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: String, required: true },
    version: { type: Number, required: true },
    rules: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'routing_rules', minimize: false },
);

/** Nest tokens of routing's models (provided in routing.providers.ts, each built by its factory below). */
export const ASSIGNMENT_MODEL = Symbol('ASSIGNMENT_MODEL');
export const ROUTING_CLAIM_MODEL = Symbol('ROUTING_CLAIM_MODEL');
export const ROUTING_CURSOR_MODEL = Symbol('ROUTING_CURSOR_MODEL');
export const OWNER_LOAD_MODEL = Symbol('OWNER_LOAD_MODEL');
export const ROUTING_HOLD_MODEL = Symbol('ROUTING_HOLD_MODEL');
export const ROUTING_ANNOUNCEMENT_MODEL = Symbol('ROUTING_ANNOUNCEMENT_MODEL');
export const ROUTING_DUE_MODEL = Symbol('ROUTING_DUE_MODEL');
export const ROUTING_RULES_MODEL = Symbol('ROUTING_RULES_MODEL');

export function assignmentModel(connection: Connection): Model<AssignmentDoc> {
  return (
    connection.models['LeadAssignment'] ?? connection.model<AssignmentDoc>('LeadAssignment', assignmentSchema)
  );
}

export function routingClaimModel(connection: Connection): Model<RoutingClaimDoc> {
  return connection.models['RoutingClaim'] ?? connection.model<RoutingClaimDoc>('RoutingClaim', claimSchema);
}

export function routingCursorModel(connection: Connection): Model<RoutingCursorDoc> {
  return (
    connection.models['RoutingCursor'] ?? connection.model<RoutingCursorDoc>('RoutingCursor', cursorSchema)
  );
}

export function ownerLoadModel(connection: Connection): Model<OwnerLoadDoc> {
  return connection.models['OwnerLoad'] ?? connection.model<OwnerLoadDoc>('OwnerLoad', ownerLoadSchema);
}

export function routingAnnouncementModel(connection: Connection): Model<RoutingAnnouncementDoc> {
  return (
    connection.models['RoutingAnnouncement'] ??
    connection.model<RoutingAnnouncementDoc>('RoutingAnnouncement', announcementSchema)
  );
}

export function routingHoldModel(connection: Connection): Model<RoutingHoldDoc> {
  return connection.models['RoutingHold'] ?? connection.model<RoutingHoldDoc>('RoutingHold', holdSchema);
}

export function routingDueModel(connection: Connection): Model<RoutingDueDoc> {
  return connection.models['RoutingDue'] ?? connection.model<RoutingDueDoc>('RoutingDue', dueSchema);
}

export function routingRulesModel(connection: Connection): Model<RoutingRulesDoc> {
  return connection.models['RoutingRules'] ?? connection.model<RoutingRulesDoc>('RoutingRules', rulesSchema);
}
