import { Inject, Injectable } from '@nestjs/common';
import type { EventMetadata } from '@tributary/contracts';
import { EventPublisher } from '@tributary/messaging';
import type { ContactDoc, StageChange } from '../contacts/contact.model';
import { ContactRepository } from '../contacts/contact.repository';
import {
  needsOwner,
  planMove,
  targetOf,
  type LifecycleCause,
  type LifecycleStage,
} from '../lifecycle/lifecycle';
import { LEAD_ROUTING, type LeadRouting } from '../routing/lead-routing.port';
import { lifecycleAnnouncement, stageChangeOf } from './lead-announcements';
import type { Scored } from './score-fields';

/**
 * Lifecycle moves, automatic and by hand, and what they mean for routing: a new MQL or a captured lead gets an
 * owner, a customer or a disqualified lead frees it, a recycled one opens a new round. Each move is a write
 * conditional on the stage the contact had, announced with an id derived from its cause.
 */
@Injectable()
export class StageMoves {
  constructor(
    private readonly contacts: ContactRepository,
    private readonly publisher: EventPublisher,
    @Inject(LEAD_ROUTING) private readonly routing: LeadRouting,
  ) {}

  /**
   * Moves the contact's stage when `lifecycleCause` asks for it and announces `lifecycle.changed`. A redelivered
   * cause that moved it before announces that move again (same id).
   */
  async move(
    contact: ContactDoc,
    lifecycleCause: LifecycleCause,
    cause: EventMetadata,
  ): Promise<LifecycleStage | null> {
    const from = contact.stage ?? null;
    const decision = planMove(from, lifecycleCause);
    if (!decision.move) {
      const target = targetOf(lifecycleCause);
      for (const earlier of contact.stageHistory ?? [])
        if (earlier.causeEventId === cause.eventId && earlier.to === target)
          await this.announce(contact, earlier, contact.score);
      return from;
    }
    const { to } = decision.move;
    const { entry, metadata } = stageChangeOf(from, decision.move, cause, new Date());
    if (!(await this.contacts.moveStage(contact._id, from, entry))) {
      // Someone else moved it first: go on from where it is now.
      const now = await this.contacts.read(contact._id);
      contact.stage = now?.stage ?? from;
      contact.stageHistory = now?.stageHistory ?? contact.stageHistory;
      return contact.stage;
    }
    contact.stage = to;
    contact.stageHistory = [...(contact.stageHistory ?? []), entry];
    await this.announce(contact, entry, contact.score, metadata);
    if (to === 'customer') await this.routing.close(contact.workspaceId, contact._id, { final: true });
    return to;
  }

  /** MQL when the score crossed the threshold; a new MQL, or a captured lead (`route`), goes to an owner. */
  async qualify(contact: ContactDoc, scored: Scored, cause: EventMetadata, route: boolean): Promise<void> {
    const stageBefore = contact.stage ?? null;
    const stage = await this.move(
      contact,
      { kind: 'score', score: scored.total, threshold: scored.mqlThreshold },
      cause,
    );
    // This cause made it an MQL now, or made it one before a crash that came ahead of routing (its redelivery).
    const madeMql =
      stage === 'mql' &&
      (stageBefore !== 'mql' ||
        (contact.stageHistory ?? []).some(
          (change) => change.causeEventId === cause.eventId && change.to === 'mql',
        ));
    if ((route || madeMql) && needsOwner(stage))
      await this.routing.assign({
        workspaceId: contact.workspaceId,
        contactId: contact._id,
        attributes: contact.attributes ?? {},
        cause,
      });
  }

  /** An owner accepted their lead: SQL. */
  async accept(
    workspaceId: string,
    contactId: string,
    ownerId: string | undefined,
    cause: EventMetadata,
  ): Promise<Awaited<ReturnType<LeadRouting['accept']>>> {
    const outcome = await this.routing.accept(workspaceId, contactId, ownerId);
    if (outcome.status === 'accepted' || outcome.status === 'already-accepted') {
      const contact = await this.contacts.read(contactId);
      if (contact) await this.move(contact, { kind: 'owner-accepted' }, cause);
    }
    return outcome;
  }

  /** Sales moved a lead by hand: disqualified (frees the owner) or recycled to nurture. */
  async moveByHand(
    contactId: string,
    cause: Extract<LifecycleCause, { kind: 'disqualify' | 'recycle' }>,
    metadata: EventMetadata,
  ): Promise<{ moved: boolean; stage: LifecycleStage | null; why?: string }> {
    const contact = await this.contacts.read(contactId);
    if (!contact || contact.workspaceId !== metadata.workspaceId)
      return { moved: false, stage: null, why: 'no such contact' };
    const decision = planMove(contact.stage ?? null, cause);
    // The same request retried (same Idempotency-Key) finds its own earlier move: that is a success, not a conflict.
    const retried = (contact.stageHistory ?? []).some(
      (change) => change.causeEventId === metadata.eventId && change.to === targetOf(cause),
    );
    const stage = await this.move(contact, cause, metadata);
    const moved = decision.move ? stage === decision.move.to : retried;
    if (cause.kind === 'disqualify' && stage === 'disqualified')
      await this.routing.close(contact.workspaceId, contactId);
    // Back to nurture: the owner is freed and the lead's next qualifying cause gives it an owner again. `moved`, not
    // the stage: a refused recycle of a contact already at `lead` must not recycle its current round.
    if (cause.kind === 'recycle' && moved)
      await this.routing.recycle(contact.workspaceId, contactId, metadata);
    if (decision.move) return { moved, stage };
    return retried ? { moved: true, stage } : { moved: false, stage, why: decision.why };
  }

  private async announce(
    contact: ContactDoc,
    change: StageChange,
    score: number,
    metadata?: EventMetadata,
  ): Promise<void> {
    await this.publisher.publish(lifecycleAnnouncement(contact, change, score, metadata));
  }
}
