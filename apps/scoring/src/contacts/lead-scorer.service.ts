import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { EventPublisher, ProcessedEvents, causedMetadata } from '@tributary/messaging';
import { CONTACT_MODEL, type ContactDoc } from './contact.model';
import { contactIdOf, engagementPoints } from './engagement-points';

/** Applies a behavioural event to its contact's score and announces the new score on `leads.scored`. */
@Injectable()
export class LeadScorer {
  constructor(
    @Inject(CONTACT_MODEL) private readonly contacts: Model<ContactDoc>,
    private readonly processed: ProcessedEvents,
    private readonly publisher: EventPublisher,
  ) {}

  /** `contactId` is the resolved contact (identity resolution); without it, the event's own ids decide. */
  async applyEvent(event: TrackingEvent, contactId: string = contactIdOf(event)): Promise<void> {
    const contribution = engagementPoints(event);
    const outcome = await this.processed.once('scoring', event.metadata.eventId, async () =>
      this.contacts
        .findOneAndUpdate(
          { _id: contactId },
          {
            $inc: { score: contribution.points, eventCount: 1 },
            $set: {
              workspaceId: event.metadata.workspaceId,
              lastRule: contribution.rule,
              updatedAt: new Date(),
            },
          },
          { upsert: true, new: true },
        )
        .lean(),
    );
    // A redelivery skips the effect; then the current state is read instead.
    const contact = outcome.applied ? outcome.result : await this.contacts.findById(contactId).lean();
    const score = contact?.score ?? contribution.points;
    // Published on every delivery (the effect may have been applied before a crash); the deterministic eventId
    // lets consumers drop the repeat.
    await this.publisher.publish({
      topic: Topics.LeadsScored,
      key: contactId,
      event: {
        metadata: causedMetadata(event.metadata, 'scoring', 'lead-scored'),
        contactId,
        score,
        previousScore: score - contribution.points,
        breakdown: [contribution],
      },
    });
  }
}
