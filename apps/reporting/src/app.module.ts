import { Module, type DynamicModule } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { ReportingConfig } from './config';
import { EVENT_FACT_MODEL, eventFactModel } from './event-counts/event-fact.model';
import { EVENT_COUNT_MODEL, eventCountModel } from './event-counts/event-count.model';
import { EventCounter } from './event-counts/event-counter.service';
import { EventCountsController } from './event-counts/event-counts.controller';
import { EventCountsHandler } from './event-counts/event-counts.handler';
import { DeliveryCountsHandler } from './event-counts/delivery-counts.handler';
import { OrchestrationCountsHandler } from './event-counts/orchestration-counts.handler';

/** Read models, the reporting API (behind the edge's keys and scopes) and report topics. */
@Module({})
export class ReportingModule {
  static forRoot(config: ReportingConfig): DynamicModule {
    return {
      module: ReportingModule,
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        EventCountsHandler,
        DeliveryCountsHandler,
        OrchestrationCountsHandler,
        EventCountsController,
      ],
      providers: [
        EventCounter,
        {
          provide: EVENT_FACT_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => eventFactModel(c),
        },
        {
          provide: EVENT_COUNT_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => eventCountModel(c),
        },
      ],
    };
  }
}
