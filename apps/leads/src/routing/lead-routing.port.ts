import type { EventMetadata } from '@tributary/contracts';
import type { AcceptStatus, Assignment, RoutingRequest } from './routing.types';

/**
 * What the rest of the lead service may ask of routing. The pipeline and the contacts API depend on this port only,
 * so routing could become its own service without touching them.
 */
export interface LeadRouting {
  /** Routes a lead once (a redelivered cause gets the assignment it already has). */
  assign(request: RoutingRequest): Promise<Assignment | null>;
  /** `assign` for a batch; `newContacts` says none of them can have an assignment yet. */
  assignMany(
    requests: readonly RoutingRequest[],
    options?: { newContacts?: boolean },
  ): Promise<(Assignment | null)[]>;
  /** The owner (or anyone, without `ownerId`) accepts the lead before its SLA runs out. */
  accept(
    workspaceId: string,
    contactId: string,
    ownerId?: string,
  ): Promise<{ status: AcceptStatus; assignment: Assignment | null }>;
  /** Frees the owner (the lead was disqualified, won or merged away); `final` means it never routes again. */
  close(workspaceId: string, contactId: string, options?: { final?: boolean }): Promise<Assignment | null>;
  /** Opens a new round for a closed lead that came back (once per cause). */
  recycle(workspaceId: string, contactId: string, cause: EventMetadata): Promise<Assignment | null>;
  /** The lead's current assignment, if it was ever routed. */
  assignmentOf(workspaceId: string, contactId: string): Promise<Assignment | null>;
}

export const LEAD_ROUTING = Symbol('LEAD_ROUTING');
