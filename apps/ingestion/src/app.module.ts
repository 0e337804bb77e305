import { Module, type DynamicModule } from '@nestjs/common';
import { EventServiceModule } from '@tributary/messaging';
import type { IngestionConfig } from './config';
import { AccessModule } from './access/access.module';
import { TrackingModule } from './tracking/tracking.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { LeadCaptureModule } from './leads/lead-capture.module';

/** The HTTP edge: tracking API, signed webhooks and lead forms, behind workspace keys and scopes. */
@Module({})
export class IngestionModule {
  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: IngestionModule,
      imports: [
        EventServiceModule.forRoot(config),
        AccessModule,
        TrackingModule,
        WebhooksModule,
        LeadCaptureModule,
      ],
    };
  }
}
