import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type LeadScored } from '@tributary/contracts';
import { EventPublisher, causedMetadata } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';
import { SERVICE_CONFIG } from '@tributary/config';
import type { SyncConfig } from '../config';
import { GOLDEN_RECORD_MODEL, type GoldenRecordDoc } from './golden-record.model';

/** Keeps the contact's golden record current and queues the change for the outbound connector. */
@Injectable()
export class GoldenRecordSync {
  constructor(
    @Inject(GOLDEN_RECORD_MODEL) private readonly records: Model<GoldenRecordDoc>,
    @Inject(SERVICE_CONFIG) private readonly config: SyncConfig,
    private readonly processed: ProcessedEvents,
    private readonly publisher: EventPublisher,
  ) {}

  async onLeadScored(lead: LeadScored): Promise<void> {
    const fields = { leadScore: lead.score };
    await this.processed.once('sync', lead.metadata.eventId, async () => {
      await this.records.updateOne(
        { _id: lead.contactId },
        {
          $set: {
            workspaceId: lead.metadata.workspaceId,
            fields,
            fieldSources: { leadScore: 'scoring' },
            updatedAt: new Date(),
          },
        },
        { upsert: true },
      );
    });
    await this.publisher.publish({
      topic: Topics.SyncOutbound,
      key: lead.contactId,
      event: {
        metadata: causedMetadata(lead.metadata, 'sync', 'outbound-upsert'),
        recordId: lead.contactId,
        destination: this.config.OUTBOUND_DESTINATION,
        operation: 'upsert',
        fieldsJson: JSON.stringify(fields),
      },
    });
  }
}
