import { Module } from '@nestjs/common';
import { LeadCaptureModule } from '../leads/lead-capture.module';
import { WebhookIntake } from './webhook-intake.service';
import { WebhooksController } from './webhooks.controller';

/** Signed inbound webhooks from CRMs and shops. */
@Module({ imports: [LeadCaptureModule], controllers: [WebhooksController], providers: [WebhookIntake] })
export class WebhooksModule {}
