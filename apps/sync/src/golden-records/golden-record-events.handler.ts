import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type ContactsMerged, type LeadScored, type RecordChanged } from '@tributary/contracts';
import { GoldenMerges } from './golden-merges.service';
import { GoldenRecords } from './golden-records.service';

/**
 * What feeds golden records: vendor record changes (change capture and webhooks), the lead pipeline's profiles and
 * its merges. Each comes a batch at a time: a few store commands per batch, not per record.
 */
@Controller()
export class GoldenRecordEventsHandler {
  constructor(
    private readonly golden: GoldenRecords,
    private readonly merges: GoldenMerges,
  ) {}

  /** A partition's batch keeps one vendor record's changes in order; a backfill's pages arrive 200 at a time. */
  @BatchEventPattern(Topics.RecordsChanged, { maxBatch: 500 })
  async onRecordsChanged(@Payload() records: RecordChanged[]): Promise<void> {
    await this.golden.onRecordsChanged(records);
  }

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadsScored(@Payload() leads: LeadScored[]): Promise<void> {
    await this.golden.onLeadProfiles(leads);
  }

  @BatchEventPattern(Topics.ContactsMerged, { acrossPartitions: true })
  async onContactsMerged(@Payload() merges: ContactsMerged[]): Promise<void> {
    await this.merges.onContactsMerged(merges);
  }
}
