import { Module, type DynamicModule } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { EventServiceModule } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { OrchestrationConfig } from './config';
import { ENROLLMENT_MODEL, enrollmentModel } from './journeys/enrollment.model';
import { JourneyEnroller } from './journeys/journey-enroller.service';
import { LeadsScoredHandler } from './journeys/leads-scored.handler';

/** Journeys and channel delivery (the skeleton enrolls scored leads in a welcome journey). */
@Module({})
export class OrchestrationModule {
  static forRoot(config: OrchestrationConfig): DynamicModule {
    return {
      module: OrchestrationModule,
      imports: [EventServiceModule.forRoot(config)],
      controllers: [LeadsScoredHandler],
      providers: [
        JourneyEnroller,
        {
          provide: ENROLLMENT_MODEL,
          inject: [STORE_CONNECTION],
          useFactory: (c: Connection) => enrollmentModel(c),
        },
      ],
    };
  }
}
