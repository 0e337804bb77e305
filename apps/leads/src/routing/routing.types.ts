import type { EventMetadata } from '@tributary/contracts';
import type { ContactAttributes } from '../contacts/contact-attributes';
import type { AssignmentReason, AssignmentState } from './routing.model';

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

/** A lead to route, with what routing reads of it and the event that asks for it. */
export interface RoutingRequest {
  workspaceId: string;
  contactId: string;
  attributes: ContactAttributes;
  cause: EventMetadata;
}

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

/** The lease every routing piece takes and honours. */
export const leaseMsOf = (options: RoutingOptions): number => options.leaseMs ?? DEFAULT_LEASE_MS;

/** Leads read per sweep query; the rest wait for the next tick so one tick stays short. */
export const SWEEP_BATCH = 200;
