import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type LeadScored } from '@tributary/contracts';
import { GoldenRecordSync } from './golden-record-sync.service';

/**
 * Scores are a field of the golden record that external systems (the CRM) want. They come a fetch at a time (the
 * partitions of one fetch in one call): a few store commands per batch instead of three per score.
 */
@Controller()
export class LeadsScoredHandler {
  constructor(private readonly sync: GoldenRecordSync) {}

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadsScored(@Payload() leads: LeadScored[]): Promise<void> {
    await this.sync.onLeadsScored(leads);
  }
}
