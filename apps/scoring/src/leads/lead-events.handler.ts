import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type LeadCaptured, type RecordChanged, type TrackingEvent } from '@tributary/contracts';
import { LeadPipeline } from './lead-pipeline.service';

/** What moves leads: behaviour (engagement), captures (new leads) and CRM / shop changes (late stages, profile). */
@Controller()
export class LeadEventsHandler {
  constructor(private readonly pipeline: LeadPipeline) {}

  /** Tracking is the high-volume topic: a partition's batch is scored with one read and one write per contact. */
  @BatchEventPattern(Topics.TrackingEvents)
  async onTrackingEvents(@Payload() events: TrackingEvent[]): Promise<void> {
    await this.pipeline.onTrackingEvents(events);
  }

  /**
   * A burst of form leads is mostly new people: created with one insert each and announced in one produce. Small
   * batches, because each new lead is then routed in turn within the call and waits for its whole batch.
   */
  @BatchEventPattern(Topics.LeadsCaptured, { maxBatch: 100 })
  async onLeadsCaptured(@Payload() leads: LeadCaptured[]): Promise<void> {
    await this.pipeline.onLeadsCaptured(leads);
  }

  @EventPattern(Topics.RecordsChanged)
  async onRecordChanged(@Payload() record: RecordChanged): Promise<void> {
    await this.pipeline.onRecordChanged(record);
  }
}
