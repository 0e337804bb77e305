import { Inject, Injectable } from '@nestjs/common';
import type { EventMetadata, TrackingEvent } from '@tributary/contracts';
import { EventPublisher, type OutgoingEvent } from '@tributary/messaging';
import type { ContactDoc } from '../contacts/contact.model';
import { ContactRepository } from '../contacts/contact.repository';
import { IDENTITY_OPTIONS } from '../identity/identity-resolver.service';
import { planIdentity, type IdentityOptions } from '../identity/identity-rules';
import { ScoringModelStore } from '../models/scoring-model.store';
import {
  groupByContact,
  isPlainEngagement,
  planEngagement,
  type EngagementPlan,
  type PlainEngagement,
} from './engagement-plan';
import { LeadClock } from './lead-clock';
import { OneEventPath } from './one-event-path.service';
import type { Scored } from './score-fields';
import { StageMoves } from './stage-moves.service';

type PlannedWrite = Exclude<EngagementPlan, { kind: 'retry' }>;

/** A contact whose share of the batch was written and scored: what to announce and qualify. */
interface ScoredContact {
  contact: ContactDoc;
  announce: OutgoingEvent;
  scored: Scored;
  cause: EventMetadata;
}

/**
 * Tracking events a partition batch at a time. Plain engagement (no identity link, no traits) is the bulk of the
 * traffic: each contact gets one write with all its new facts and its new score, and the scores go out in one
 * produce. Everything else takes the one-event path, in order.
 */
@Injectable()
export class EngagementBatch {
  constructor(
    @Inject(IDENTITY_OPTIONS) private readonly identityOptions: IdentityOptions,
    private readonly contacts: ContactRepository,
    private readonly models: ScoringModelStore,
    private readonly stages: StageMoves,
    private readonly oneEvent: OneEventPath,
    private readonly publisher: EventPublisher,
    private readonly clock: LeadClock,
  ) {}

  /**
   * A partition's batch of behavioural events, in offset order. Events that are not plain engagement (identify,
   * alias, traits) take the one-event path after the plain events before them.
   */
  async onTrackingEvents(events: readonly TrackingEvent[]): Promise<void> {
    let plain: PlainEngagement[] = [];
    for (const event of events) {
      const plan = planIdentity(event, this.identityOptions);
      if (isPlainEngagement(event, plan)) {
        plain.push({ event, subject: plan.subject });
        continue;
      }
      await this.recordEngagement(plain);
      plain = [];
      await this.oneEvent.onTrackingEvent(event);
    }
    await this.recordEngagement(plain);
  }

  /**
   * Plain engagement events of one batch, in a handful of store commands whatever its size: one read of the
   * identities, one of the contacts, one write of the new contacts and one of the others, one produce for all
   * scores. Events whose write did not land (a race, a merge) take the one-event path.
   */
  private async recordEngagement(plain: readonly PlainEngagement[]): Promise<void> {
    if (plain.length === 0) return;
    const owners = await this.contacts.ownersOf(plain.flatMap(({ subject }) => subject.keys));
    const groups = groupByContact(plain, owners);
    const known = await this.contacts.readMany(groups.keys());
    const plans: EngagementPlan[] = [];
    for (const [contactId, group] of groups)
      plans.push(await this.plan(contactId, known.get(contactId), group));
    const writes = plans.filter((plan): plan is PlannedWrite => plan.kind !== 'retry');
    const wrote = await this.contacts.writeBatch(writes);
    const retry = new Set<TrackingEvent>();
    const scored: ScoredContact[] = [];
    for (const plan of plans) if (plan.kind === 'retry') plan.events.forEach((event) => retry.add(event));
    writes.forEach((write, index) => {
      if (wrote[index]) scored.push(write);
      else write.events.forEach((event) => retry.add(event));
    });
    await this.publisher.publishAll(scored.map((outcome) => outcome.announce));
    // Stage moves are rare and conditional; the common case (no move, no owner needed) makes no store call.
    for (const outcome of scored)
      await this.stages.qualify(outcome.contact, outcome.scored, outcome.cause, false);
    for (const { event } of plain) if (retry.has(event)) await this.oneEvent.onTrackingEvent(event);
  }

  /** A merged contact goes to the one-event path before its workspace's model is looked up. */
  private async plan(
    contactId: string,
    existing: ContactDoc | undefined,
    events: readonly TrackingEvent[],
  ): Promise<EngagementPlan> {
    const first = events[0];
    if (!first || existing?.mergedInto) return { kind: 'retry', events };
    const scoring = await this.models.current(first.metadata.workspaceId);
    return planEngagement({
      contactId,
      existing,
      events,
      scoring,
      latest: this.clock.latest(),
      now: new Date(),
    });
  }
}
