import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import {
  Topics,
  type ContactsMerged,
  type LeadAssigned,
  type LeadScored,
  type LeadSlaBreached,
  type LifecycleChanged,
} from '@tributary/contracts';
import { JourneyIntake } from './journey-intake.service';
import { ContactMerges } from './contact-merges';

/**
 * What the lead service announces decides who enters which journey: scores (with the calls they applied and the
 * contact's profile), stage moves, assignments and SLA breaches. A fetch at a time, across partitions: a few store commands per batch.
 */
@Controller()
export class JourneyEventsHandler {
  constructor(
    private readonly intake: JourneyIntake,
    private readonly merges: ContactMerges,
  ) {}

  @BatchEventPattern(Topics.ContactsMerged, { acrossPartitions: true })
  async onContactsMerged(@Payload() merges: ContactsMerged[]): Promise<void> {
    await this.merges.apply(merges);
  }

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadsScored(@Payload() leads: LeadScored[]): Promise<void> {
    await this.intake.onLeadsScored(leads);
  }

  @BatchEventPattern(Topics.LifecycleChanged, { acrossPartitions: true })
  async onLifecycleChanged(@Payload() changes: LifecycleChanged[]): Promise<void> {
    await this.intake.onLifecycleChanged(changes);
  }

  @BatchEventPattern(Topics.LeadsAssigned, { acrossPartitions: true })
  async onAssigned(@Payload() assignments: LeadAssigned[]): Promise<void> {
    await this.intake.onRouting(
      assignments.map((a) => ({
        kind: 'assigned',
        metadata: a.metadata,
        contactId: a.contactId,
        team: a.teamId,
        owner: a.ownerId,
      })),
    );
  }

  @BatchEventPattern(Topics.LeadsSlaBreached, { acrossPartitions: true })
  async onSlaBreached(@Payload() breaches: LeadSlaBreached[]): Promise<void> {
    await this.intake.onRouting(
      breaches.map((b) => ({
        kind: 'sla_breached',
        metadata: b.metadata,
        contactId: b.contactId,
        team: b.teamId,
        owner: b.ownerId,
      })),
    );
  }
}
