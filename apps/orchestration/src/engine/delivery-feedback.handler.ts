import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BatchEventPattern } from '@tributary/messaging';
import { Topics, type MessageDelivery } from '@tributary/contracts';
import { DeliveryFeedback } from './delivery-feedback.service';

/** Providers' feedback, verified at the edge: bounces, spam reports, unsubscribes and STOPs reach the suppression list. */
@Controller()
export class DeliveryFeedbackHandler {
  constructor(private readonly feedback: DeliveryFeedback) {}

  @BatchEventPattern(Topics.MessagesDeliveries, { acrossPartitions: true })
  async onDeliveries(@Payload() deliveries: MessageDelivery[]): Promise<void> {
    await this.feedback.apply(deliveries);
  }
}
