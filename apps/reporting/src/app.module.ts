import { Module, type DynamicModule, type INestApplication, type Provider } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule, serveApiDocs } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { ReportingConfig } from './config';
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
import { reportingOpenApiDocument } from './openapi/api-docs';
import { JourneyPerformanceContributor } from './journeys/journey-performance.contributor';
import { JourneyReports } from './journeys/journey-reports.service';
import { JourneysController } from './journeys/journeys.controller';
import { REPORT_CONTRIBUTORS, type ReportContributor } from './intake/report-contributor';
import { ConnectionHealthContributor, ConnectionStates } from './health/connection-states';
import { DashboardController } from './dashboard/dashboard.controller';
import { ConsumerLagReader } from './health/consumer-lag';
import { DataQualityContributor } from './health/data-quality.contributor';
import { DataQualityController } from './health/data-quality.controller';
import { DataQualityReports } from './health/data-quality-reports';
import { DeadLetterOrigins } from './health/dead-letter-origins';
import { HealthReports } from './health/health-reports';
import { IntegrationHealthController } from './health/integration-health.controller';
import { TopicFlowContributor } from './health/topic-flow.contributor';
import { ReportIntake } from './intake/report-intake.service';
import { REPORT_SETTINGS_MODEL, ReportSettingsStore, reportSettingsModel } from './settings/report-settings';
import { ReportSettingsController } from './settings/report-settings.controller';

/** The read models: each is fed by the intake the batches of its topics. */
const CONTRIBUTORS = [
  EventCountsContributor,
  FunnelContributor,
  AttributionContributor,
  JourneyPerformanceContributor,
  TopicFlowContributor,
  DataQualityContributor,
  ConnectionHealthContributor,
];

function modelProvider(token: symbol, factory: (connection: Connection) => unknown): Provider {
  return { provide: token, inject: [STORE_CONNECTION], useFactory: factory };
}

/** Read models, the reporting API (behind the edge's keys and scopes) and report topics. */
@Module({})
export class ReportingModule {
  static readonly configureApp = (app: INestApplication): void => serveApiDocs(app, reportingOpenApiDocument);

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
        JourneysController,
        IntegrationHealthController,
        DataQualityController,
        DashboardController,
      ],
      providers: [
        EventCounter,
        ReportIntake,
        FunnelPeople,
        AttributionReports,
        JourneyReports,
        ReportTopics,
        ReportSettingsStore,
        DeadLetterOrigins,
        ConnectionStates,
        ConsumerLagReader,
        HealthReports,
        DataQualityReports,
        ...CONTRIBUTORS,
        {
          provide: REPORT_CONTRIBUTORS,
          inject: CONTRIBUTORS,
          useFactory: (...contributors: ReportContributor[]) => contributors,
        },
        modelProvider(REPORT_SETTINGS_MODEL, reportSettingsModel),
      ],
    };
  }
}
