import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { ReportingConfig } from './config';
import { EVENT_FACT_MODEL, eventFactModel } from './event-counts/event-fact.model';
import { EVENT_COUNT_MODEL, eventCountModel } from './event-counts/event-count.model';
import { EventCounter } from './event-counts/event-counter.service';
import { EventCountsController } from './event-counts/event-counts.controller';
import { EventCountsContributor } from './event-counts/event-counts.contributor';
import { AttributionContributor } from './attribution/attribution-model';
import { AttributionController } from './attribution/attribution.controller';
import { AttributionReports } from './attribution/attribution-reports';
import { FunnelPeople } from './funnel/funnel-people';
import { ReportTopics } from './report-topics/report-topics';
import { FunnelContributor } from './funnel/funnel-contacts';
import { FunnelController } from './funnel/funnel.controller';
import { IntakeHandler } from './intake/intake.handler';
import { REPORT_CONTRIBUTORS, type ReportContributor } from './intake/report-contributor';
import { ReportIntake } from './intake/report-intake.service';
import { REPORT_SETTINGS_MODEL, ReportSettingsStore, reportSettingsModel } from './settings/report-settings';
import { ReportSettingsController } from './settings/report-settings.controller';

/** The read models: each is fed by the intake the batches of its topics. */
const CONTRIBUTORS = [EventCountsContributor, FunnelContributor, AttributionContributor];

function modelProvider(token: symbol, factory: (connection: Connection) => unknown): Provider {
  return { provide: token, inject: [STORE_CONNECTION], useFactory: factory };
}

/** Read models, the reporting API (behind the edge's keys and scopes) and report topics. */
@Module({})
export class ReportingModule {
  static forRoot(config: ReportingConfig): DynamicModule {
    return {
      module: ReportingModule,
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        IntakeHandler,
        EventCountsController,
        ReportSettingsController,
        FunnelController,
        AttributionController,
      ],
      providers: [
        EventCounter,
        ReportIntake,
        FunnelPeople,
        AttributionReports,
        ReportTopics,
        ReportSettingsStore,
        ...CONTRIBUTORS,
        {
          provide: REPORT_CONTRIBUTORS,
          inject: CONTRIBUTORS,
          useFactory: (...contributors: ReportContributor[]) => contributors,
        },
        modelProvider(EVENT_FACT_MODEL, eventFactModel),
        modelProvider(EVENT_COUNT_MODEL, eventCountModel),
        modelProvider(REPORT_SETTINGS_MODEL, reportSettingsModel),
      ],
    };
  }
}
