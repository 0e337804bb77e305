import { Module } from '@nestjs/common';
import { DeliveryIntake } from './delivery-intake.service';
import { DeliveryWebhooksController } from './delivery-webhooks.controller';

/** Delivery feedback from email and SMS providers (SendGrid events, Twilio status callbacks and inbound texts). */
@Module({ controllers: [DeliveryWebhooksController], providers: [DeliveryIntake] })
export class DeliveryWebhooksModule {}
