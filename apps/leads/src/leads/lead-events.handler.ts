import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type LeadCaptured, type RecordChanged, type TrackingEvent } from '@tributary/contracts';
import { CaptureBatch } from './capture-batch.service';
import { EngagementBatch } from './engagement-batch.service';
import { OneEventPath } from './one-event-path.service';

/** What moves leads: behaviour (engagement), captures (new leads) and CRM / shop changes (late stages, profile). */
@Controller()
export class LeadEventsHandler {
  constructor(
    private readonly engagement: EngagementBatch,
    private readonly captures: CaptureBatch,
    private readonly oneEvent: OneEventPath,
  ) {}

  /**
   * Tracking is the high-volume topic: a partition's batch costs a few store commands plus one write per contact, so
   * the larger a backlog's batches, the fewer writes per event (a contact's events of one batch share one write). Six
   * partitions' batches are in memory at once, decoded, with their contacts and the scores they produce: 10,000 a
   * batch took 177 MB of heap in a backlog; 5,000 runs it at 8,180 events/s in 128 MB, and the chart gives leads 192
   * (a 96 MB heap ran out at 4,000).
   */
  @BatchEventPattern(Topics.TrackingEvents, { maxBatch: 5_000 })
  async onTrackingEvents(@Payload() events: TrackingEvent[]): Promise<void> {
    await this.engagement.onTrackingEvents(events);
  }

  /**
   * A burst of form leads is mostly new people: created, announced and routed together, in a few store commands per
   * batch. Without a backlog a fetch holds what arrived since the last one; with one, bigger batches catch up faster.
   */
  @BatchEventPattern(Topics.LeadsCaptured, { maxBatch: 500, acrossPartitions: true })
  async onLeadsCaptured(@Payload() leads: LeadCaptured[]): Promise<void> {
    await this.captures.onLeadsCaptured(leads);
  }

  @EventPattern(Topics.RecordsChanged)
  async onRecordChanged(@Payload() record: RecordChanged): Promise<void> {
    await this.oneEvent.onRecordChanged(record);
  }
}
