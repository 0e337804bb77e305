import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type LeadScored } from '@tributary/contracts';
import { EventPublisher, causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';
import { ProcessedEventBatches } from '@tributary/store';
import { SERVICE_CONFIG } from '@tributary/config';
import type { OrchestrationConfig } from '../config';
import { ENROLLMENT_MODEL, type EnrollmentDoc } from './enrollment.model';
import { WELCOME_JOURNEY, welcomeStepFor } from './welcome-journey';

/** Enrolls scored leads in the welcome journey and records each step change on `journey.steps`. */
@Injectable()
export class JourneyEnroller {
  constructor(
    @Inject(ENROLLMENT_MODEL) private readonly enrollments: Model<EnrollmentDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: OrchestrationConfig,
    private readonly processed: ProcessedEvents,
    private readonly batches: ProcessedEventBatches,
    private readonly publisher: EventPublisher,
  ) {}

  /**
   * A consumed batch in three store commands and one produce whatever its size: which scores are new (one read of
   * their markers), each enrollment set to its newest new score's step (one bulk), the markers (one bulk), then every
   * score's step announced (a repeat announces the same derived event again, as the one-event path does). A single
   * score takes `onLeadScored`, the path a failed batch is retried through.
   */
  async onLeadsScored(leads: readonly LeadScored[]): Promise<void> {
    const [only] = leads;
    if (leads.length === 1 && only) return this.onLeadScored(only);
    const fresh = await this.batches.unprocessed(
      SCOPE,
      leads.map((lead) => lead.metadata.eventId),
    );
    // Offset order within a contact's partition: the last new score of an enrollment is the one that stands.
    const newest = new Map<string, { workspaceId: string; contactId: string; step: string }>();
    for (const lead of leads) {
      if (!fresh.has(lead.metadata.eventId)) continue;
      const { workspaceId } = lead.metadata;
      newest.set(enrollmentIdOf(lead), { workspaceId, contactId: lead.contactId, step: this.stepOf(lead) });
    }
    if (newest.size > 0) {
      const updatedAt = new Date();
      await this.enrollments.bulkWrite(
        [...newest].map(([_id, { workspaceId, contactId, step }]) => ({
          updateOne: {
            filter: { _id },
            update: { $set: { workspaceId, journeyId: WELCOME_JOURNEY, contactId, step, updatedAt } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
      await this.batches.markProcessed(SCOPE, fresh);
    }
    await this.publisher.publishAll(leads.map((lead) => this.stepAnnouncement(lead)));
  }

  async onLeadScored(lead: LeadScored): Promise<void> {
    const { workspaceId } = lead.metadata;
    const enrollmentId = enrollmentIdOf(lead);
    const step = this.stepOf(lead);
    await this.processed.once(SCOPE, lead.metadata.eventId, async () => {
      await this.enrollments.updateOne(
        { _id: enrollmentId },
        {
          $set: {
            workspaceId,
            journeyId: WELCOME_JOURNEY,
            contactId: lead.contactId,
            step,
            updatedAt: new Date(),
          },
        },
        { upsert: true },
      );
    });
    await this.publisher.publish(this.stepAnnouncement(lead));
  }

  private stepOf(lead: LeadScored): ReturnType<typeof welcomeStepFor> {
    return welcomeStepFor(lead.score, this.config.NURTURE_SCORE_THRESHOLD);
  }

  private stepAnnouncement(lead: LeadScored): OutgoingEvent<typeof Topics.JourneySteps> {
    const enrollmentId = enrollmentIdOf(lead);
    return {
      topic: Topics.JourneySteps,
      key: enrollmentId,
      event: {
        metadata: causedMetadata(lead.metadata, 'orchestration', 'journey-step'),
        enrollmentId,
        journeyId: WELCOME_JOURNEY,
        contactId: lead.contactId,
        step: this.stepOf(lead),
      },
    };
  }
}

/** The dedupe scope of orchestration's markers. */
const SCOPE = 'orchestration';

function enrollmentIdOf(lead: LeadScored): string {
  return `${lead.metadata.workspaceId}:${WELCOME_JOURNEY}:${lead.contactId}`;
}
