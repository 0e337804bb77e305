import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type LeadScored } from '@tributary/contracts';
import { GoldenRecordSync } from './golden-record-sync.service';

/** Scores are a field of the golden record that external systems (the CRM) want. */
@Controller()
export class LeadsScoredHandler {
  constructor(private readonly sync: GoldenRecordSync) {}

  @EventPattern(Topics.LeadsScored)
  async onLeadScored(@Payload() lead: LeadScored): Promise<void> {
    await this.sync.onLeadScored(lead);
  }
}
