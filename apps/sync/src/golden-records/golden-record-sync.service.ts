import { Inject, Injectable } from '@nestjs/common';
import type { Model } from 'mongoose';
import { Topics, type LeadScored } from '@tributary/contracts';
import { EventPublisher, causedMetadata, type OutgoingEvent } from '@tributary/messaging';
import { ProcessedEvents } from '@tributary/store';
import { ProcessedEventBatches } from '@tributary/store';
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
    private readonly batches: ProcessedEventBatches,
    private readonly publisher: EventPublisher,
  ) {}

  /**
   * A consumed batch in three store commands and one produce whatever its size: which scores are new (one read of
   * their markers), each golden record set to its newest new score (one bulk), the markers (one bulk), then every
   * score's change queued (a repeat queues the same derived event again, as the one-event path does). A single score
   * takes `onLeadScored`, the path a failed batch is retried through.
   */
  async onLeadsScored(leads: readonly LeadScored[]): Promise<void> {
    const [only] = leads;
    if (leads.length === 1 && only) return this.onLeadScored(only);
    const fresh = await this.batches.unprocessed(
      SCOPE,
      leads.map((lead) => lead.metadata.eventId),
    );
    // Offset order within a contact's partition: the last new score of a contact is the one that stands.
    const newest = new Map<string, LeadScored>();
    for (const lead of leads) if (fresh.has(lead.metadata.eventId)) newest.set(lead.contactId, lead);
    if (newest.size > 0) {
      const updatedAt = new Date();
      await this.records.bulkWrite(
        [...newest.values()].map((lead) => ({
          updateOne: {
            filter: { _id: lead.contactId },
            update: { $set: recordFieldsOf(lead, updatedAt) },
            upsert: true,
          },
        })),
        { ordered: false },
      );
      await this.batches.markProcessed(SCOPE, fresh);
    }
    await this.publisher.publishAll(leads.map((lead) => this.outboundChange(lead)));
  }

  async onLeadScored(lead: LeadScored): Promise<void> {
    await this.processed.once(SCOPE, lead.metadata.eventId, async () => {
      await this.records.updateOne(
        { _id: lead.contactId },
        { $set: recordFieldsOf(lead, new Date()) },
        { upsert: true },
      );
    });
    await this.publisher.publish(this.outboundChange(lead));
  }

  private outboundChange(lead: LeadScored): OutgoingEvent<typeof Topics.SyncOutbound> {
    return {
      topic: Topics.SyncOutbound,
      key: lead.contactId,
      event: {
        metadata: causedMetadata(lead.metadata, 'sync', 'outbound-upsert'),
        recordId: lead.contactId,
        destination: this.config.OUTBOUND_DESTINATION,
        operation: 'upsert',
        fieldsJson: JSON.stringify({ leadScore: lead.score }),
      },
    };
  }
}

/** The dedupe scope of sync's markers. */
const SCOPE = 'sync';

function recordFieldsOf(lead: LeadScored, updatedAt: Date) {
  return {
    workspaceId: lead.metadata.workspaceId,
    fields: { leadScore: lead.score },
    fieldSources: { leadScore: 'scoring' },
    updatedAt,
  };
}
