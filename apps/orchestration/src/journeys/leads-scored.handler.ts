import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type LeadScored } from '@tributary/contracts';
import { JourneyEnroller } from './journey-enroller.service';

/**
 * A new score may enroll a lead in a journey or move it to another step. Scores come a fetch at a time (the
 * partitions of one fetch in one call): a few store commands per batch instead of three per score.
 */
@Controller()
export class LeadsScoredHandler {
  constructor(private readonly enroller: JourneyEnroller) {}

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadsScored(@Payload() leads: LeadScored[]): Promise<void> {
    await this.enroller.onLeadsScored(leads);
  }
}
