import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type GoldenRecordChanged } from '@tributary/contracts';
import { OutboundSync } from './outbound-sync.service';

/**
 * Golden-record changes, a partition's batch at a time (one record's changes stay in order): the vendors take writes
 * in batches (HubSpot 100, Mailchimp 500), so a backlog is written in a few calls per connection.
 */
@Controller()
export class OutboundHandler {
  constructor(private readonly outbound: OutboundSync) {}

  @BatchEventPattern(Topics.GoldenRecordsChanged, { maxBatch: 500 })
  async onGoldenChanges(@Payload() changes: GoldenRecordChanged[]): Promise<void> {
    await this.outbound.onGoldenChanges(changes);
  }
}
