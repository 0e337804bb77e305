import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import {
  Topics,
  type JourneyStepRecorded,
  type LeadScored,
  type MessageOutcome,
  type OutboundSyncQueued,
  type TrackingEvent,
} from '@tributary/contracts';
import { EventCounter } from './event-counter.service';

/**
 * Reporting listens to every domain topic; each event becomes one counted fact. Every event of the pipeline passes
 * here, so each topic is counted a fetch at a time (the partitions of one fetch in one call): a few store commands
 * per batch instead of two per event.
 */
@Controller()
export class EventCountsHandler {
  constructor(private readonly counter: EventCounter) {}

  @BatchEventPattern(Topics.TrackingEvents, { acrossPartitions: true })
  async onTracking(@Payload() events: TrackingEvent[]): Promise<void> {
    await this.counter.recordMany(
      events.map((event) => ({ metadata: event.metadata, eventType: event.callType })),
    );
  }

  @BatchEventPattern(Topics.LeadsScored, { acrossPartitions: true })
  async onLeadScored(@Payload() events: LeadScored[]): Promise<void> {
    await this.counter.recordMany(
      events.map(({ metadata }) => ({ metadata, eventType: Topics.LeadsScored })),
    );
  }

  @BatchEventPattern(Topics.JourneySteps, { acrossPartitions: true })
  async onJourneyStep(@Payload() events: JourneyStepRecorded[]): Promise<void> {
    await this.counter.recordMany(
      events.map(({ metadata }) => ({ metadata, eventType: Topics.JourneySteps })),
    );
  }

  /** Messages by outcome (sent, skipped, failed) and channel, e.g. `messages.outcomes:email:sent`. */
  @BatchEventPattern(Topics.MessagesOutcomes, { acrossPartitions: true })
  async onMessageOutcome(@Payload() events: MessageOutcome[]): Promise<void> {
    await this.counter.recordMany(
      events.map(({ metadata, channel, status }) => ({
        metadata,
        eventType: `${Topics.MessagesOutcomes}:${channel}:${status}`,
      })),
    );
  }

  @BatchEventPattern(Topics.SyncOutbound, { acrossPartitions: true })
  async onOutboundSync(@Payload() events: OutboundSyncQueued[]): Promise<void> {
    await this.counter.recordMany(
      events.map(({ metadata }) => ({ metadata, eventType: Topics.SyncOutbound })),
    );
  }
}
