import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type LeadScored } from '@tributary/contracts';
import { EventPublisher, causedMetadata } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';
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
    private readonly publisher: EventPublisher,
  ) {}

  async onLeadScored(lead: LeadScored): Promise<void> {
    const { workspaceId } = lead.metadata;
    const enrollmentId = `${workspaceId}:${WELCOME_JOURNEY}:${lead.contactId}`;
    const step = welcomeStepFor(lead.score, this.config.NURTURE_SCORE_THRESHOLD);
    await this.processed.once('orchestration', lead.metadata.eventId, async () => {
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
    await this.publisher.publish({
      topic: Topics.JourneySteps,
      key: enrollmentId,
      event: {
        metadata: causedMetadata(lead.metadata, 'orchestration', 'journey-step'),
        enrollmentId,
        journeyId: WELCOME_JOURNEY,
        contactId: lead.contactId,
        step,
      },
    });
  }
}
