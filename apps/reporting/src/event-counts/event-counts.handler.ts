import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import {
  Topics,
  type JourneyStepRecorded,
  type LeadScored,
  type OutboundSyncQueued,
  type TrackingEvent,
} from '@tributary/contracts';
import { EventCounter } from './event-counter.service';

/** Reporting listens to every domain topic; each event becomes one counted fact. */
@Controller()
export class EventCountsHandler {
  constructor(private readonly counter: EventCounter) {}

  @EventPattern(Topics.TrackingEvents)
  async onTracking(@Payload() event: TrackingEvent): Promise<void> {
    await this.counter.record(event.metadata, event.callType);
  }

  @EventPattern(Topics.LeadsScored)
  async onLeadScored(@Payload() event: LeadScored): Promise<void> {
    await this.counter.record(event.metadata, Topics.LeadsScored);
  }

  @EventPattern(Topics.JourneySteps)
  async onJourneyStep(@Payload() event: JourneyStepRecorded): Promise<void> {
    await this.counter.record(event.metadata, Topics.JourneySteps);
  }

  @EventPattern(Topics.SyncOutbound)
  async onOutboundSync(@Payload() event: OutboundSyncQueued): Promise<void> {
    await this.counter.record(event.metadata, Topics.SyncOutbound);
  }
}
