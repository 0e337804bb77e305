import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type MessageDelivery } from '@tributary/contracts';
import { EventCounter } from './event-counter.service';

/**
 * Providers' delivery feedback counted per workspace, channel and event, e.g. `messages.deliveries:email:bounced`.
 * Each record counts once by its eventId, which the edge derives from the provider's event id: a webhook the
 * provider sent again is not counted again.
 */
@Controller()
export class DeliveryCountsHandler {
  constructor(private readonly counter: EventCounter) {}

  @BatchEventPattern(Topics.MessagesDeliveries, { acrossPartitions: true })
  async onDeliveries(@Payload() deliveries: MessageDelivery[]): Promise<void> {
    await this.counter.recordMany(
      deliveries.map(({ metadata, channel, event }) => ({
        metadata,
        eventType: `${Topics.MessagesDeliveries}:${channel}:${event}`,
      })),
    );
  }
}
