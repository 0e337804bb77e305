import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type TrackingEvent } from '@tributary/contracts';
import { LeadScorer } from './lead-scorer.service';

/** Every behavioural event may change a lead's engagement score. */
@Controller()
export class TrackingEventsHandler {
  constructor(private readonly scorer: LeadScorer) {}

  @EventPattern(Topics.TrackingEvents)
  async onTrackingEvent(@Payload() event: TrackingEvent): Promise<void> {
    await this.scorer.applyEvent(event);
  }
}
