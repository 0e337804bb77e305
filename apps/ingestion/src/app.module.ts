import { Module, type DynamicModule } from '@nestjs/common';
import { EventServiceModule } from '@tributary/runtime';
import type { IngestionConfig } from './config';
import { AccessModule } from './access/access.module';
import { TrackingModule } from './tracking/tracking.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { DeliveryWebhooksModule } from './deliveries/delivery-webhooks.module';
import { LeadCaptureModule } from './leads/lead-capture.module';
import { configureIngestionApp } from './http-setup';

/** The HTTP edge: tracking API, signed webhooks and lead forms, behind workspace keys and scopes. */
@Module({})
export class IngestionModule {
  /** Picked up by startService (every start path: main, tests, e2e): webhook raw bodies and /docs. */
  static readonly configureApp = configureIngestionApp;

  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: IngestionModule,
      imports: [
        EventServiceModule.forRoot(config),
        AccessModule,
        TrackingModule,
        WebhooksModule,
        DeliveryWebhooksModule,
        LeadCaptureModule,
      ],
    };
  }
}
