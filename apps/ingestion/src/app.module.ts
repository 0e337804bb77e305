import { Module, type DynamicModule } from '@nestjs/common';
import { EventServiceModule } from '@tributary/messaging';
import { StaticWorkspaceKeys, WORKSPACE_KEYS } from '@tributary/platform';
import type { IngestionConfig } from './config';
import { TrackController } from './tracking/track.controller';
import { TrackingIntake } from './tracking/tracking-intake.service';

/** The HTTP edge: tracking API today; webhooks, lead forms and key management build on it. */
@Module({})
export class IngestionModule {
  static forRoot(config: IngestionConfig): DynamicModule {
    return {
      module: IngestionModule,
      imports: [EventServiceModule.forRoot(config)],
      controllers: [TrackController],
      providers: [
        TrackingIntake,
        { provide: WORKSPACE_KEYS, useValue: new StaticWorkspaceKeys(config.WRITE_KEYS) },
      ],
    };
  }
}
