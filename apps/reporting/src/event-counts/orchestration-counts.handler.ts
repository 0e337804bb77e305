import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type ContactAttributeUpdated, type ContentEvent } from '@tributary/contracts';
import { EventCounter } from './event-counter.service';

/**
 * What the campaign side did, counted per workspace: content workflow steps per kind and action (e.g.
 * `content.events:blog_post:published`) and attributes journeys set (e.g. `contacts.attributes:plan`). Each record
 * counts once by its eventId, so a step announced again after a crash is not counted again.
 */
@Controller()
export class OrchestrationCountsHandler {
  constructor(private readonly counter: EventCounter) {}

  @BatchEventPattern(Topics.ContentEvents, { acrossPartitions: true })
  async onContent(@Payload() events: ContentEvent[]): Promise<void> {
    await this.counter.recordMany(
      events.map(({ metadata, kind, action }) => ({
        metadata,
        eventType: `${Topics.ContentEvents}:${kind}:${action}`,
      })),
    );
  }

  @BatchEventPattern(Topics.ContactsAttributes, { acrossPartitions: true })
  async onAttributes(@Payload() updates: ContactAttributeUpdated[]): Promise<void> {
    await this.counter.recordMany(
      updates.map(({ metadata, attribute }) => ({
        metadata,
        eventType: `${Topics.ContactsAttributes}:${attribute}`,
      })),
    );
  }
}
