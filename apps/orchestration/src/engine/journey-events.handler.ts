import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type LeadScored, type LifecycleChanged } from '@tributary/contracts';
import { JourneyIntake } from './journey-intake.service';

/**
 * What the lead service announces decides who enters which journey: scores (with the calls they applied and the
 * contact's profile) and stage moves. A fetch at a time, across partitions: a few store commands per batch.
 */
@Controller()
export class JourneyEventsHandler {
  constructor(private readonly intake: JourneyIntake) {}

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadsScored(@Payload() leads: LeadScored[]): Promise<void> {
    await this.intake.onLeadsScored(leads);
  }

  @BatchEventPattern(Topics.LifecycleChanged, { acrossPartitions: true })
  async onLifecycleChanged(@Payload() changes: LifecycleChanged[]): Promise<void> {
    await this.intake.onLifecycleChanged(changes);
  }
}
