import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type LeadCaptured, type RecordChanged, type TrackingEvent } from '@tributary/contracts';
import { LeadPipeline } from './lead-pipeline.service';

/** What moves leads: behaviour (engagement), captures (new leads) and CRM / shop changes (late stages, profile). */
@Controller()
export class LeadEventsHandler {
  constructor(private readonly pipeline: LeadPipeline) {}

  @EventPattern(Topics.TrackingEvents)
  async onTrackingEvent(@Payload() event: TrackingEvent): Promise<void> {
    await this.pipeline.onTrackingEvent(event);
  }

  @EventPattern(Topics.LeadsCaptured)
  async onLeadCaptured(@Payload() lead: LeadCaptured): Promise<void> {
    await this.pipeline.onLeadCaptured(lead);
  }

  @EventPattern(Topics.RecordsChanged)
  async onRecordChanged(@Payload() record: RecordChanged): Promise<void> {
    await this.pipeline.onRecordChanged(record);
  }
}
