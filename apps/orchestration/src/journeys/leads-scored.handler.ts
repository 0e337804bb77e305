import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type LeadScored } from '@tributary/contracts';
import { JourneyEnroller } from './journey-enroller.service';

/** A new score may enroll a lead in a journey or move it to another step. */
@Controller()
export class LeadsScoredHandler {
  constructor(private readonly enroller: JourneyEnroller) {}

  @EventPattern(Topics.LeadsScored)
  async onLeadScored(@Payload() lead: LeadScored): Promise<void> {
    await this.enroller.onLeadScored(lead);
  }
}
