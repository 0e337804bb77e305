import { Injectable } from '@nestjs/common';
import { Topics, type TopicName } from '@tributary/contracts';
import type { AnyIntakeBatch, ReportContributor } from '../intake/report-contributor';
import { EventCounter, type CountedEvent } from './event-counter.service';

/**
 * Every domain event counted per workspace and type, e.g. `track`, `leads.scored`, `messages.outcomes:email:sent`,
 * `messages.deliveries:email:bounced`, `content.events:blog_post:published`, `contacts.attributes:plan`. Each record
 * counts once by its eventId (the edge derives a provider webhook's from the provider's event id).
 */
@Injectable()
export class EventCountsContributor implements ReportContributor {
  readonly topics: readonly TopicName[] = [
    Topics.TrackingEvents,
    Topics.LeadsScored,
    Topics.JourneySteps,
    Topics.MessagesOutcomes,
    Topics.SyncOutbound,
    Topics.MessagesDeliveries,
    Topics.ContentEvents,
    Topics.ContactsAttributes,
  ];

  constructor(private readonly counter: EventCounter) {}

  collect(batch: AnyIntakeBatch): void {
    this.counter.count(batch.tallies, countedEvents(batch), batch.positions);
  }

  async afterApply(batch: AnyIntakeBatch): Promise<void> {
    await this.counter.announce(countedEvents(batch));
  }
}

function countedEvents(batch: AnyIntakeBatch): CountedEvent[] {
  switch (batch.topic) {
    case Topics.TrackingEvents:
      return batch.events.map((e) => ({ metadata: e.metadata, eventType: e.callType }));
    case Topics.MessagesOutcomes:
      return batch.events.map(({ metadata, channel, status }) => ({
        metadata,
        eventType: `${Topics.MessagesOutcomes}:${channel}:${status}`,
      }));
    case Topics.MessagesDeliveries:
      return batch.events.map(({ metadata, channel, event }) => ({
        metadata,
        eventType: `${Topics.MessagesDeliveries}:${channel}:${event}`,
      }));
    case Topics.ContentEvents:
      return batch.events.map(({ metadata, kind, action }) => ({
        metadata,
        eventType: `${Topics.ContentEvents}:${kind}:${action}`,
      }));
    case Topics.ContactsAttributes:
      return batch.events.map(({ metadata, attribute }) => ({
        metadata,
        eventType: `${Topics.ContactsAttributes}:${attribute}`,
      }));
    case Topics.LeadsScored:
    case Topics.JourneySteps:
    case Topics.SyncOutbound:
      return batch.events.map(({ metadata }) => ({ metadata, eventType: batch.topic }));
    default:
      return [];
  }
}
