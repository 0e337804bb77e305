import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { SharedAccessModule } from '@tributary/access';
import { SERVICE_CONFIG } from '@tributary/config';
import { EventServiceModule, serveApiDocs } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { SyncConfig } from './config';
import { ChangeCapture } from './changes/change-capture.service';
import {
  CHANGE_CURSOR_MODEL,
  CONNECTION_MODEL,
  RECORD_VERSION_MODEL,
  changeCursorModel,
  connectionModel,
  recordVersionModel,
} from './connections/connection.models';
import { ConnectionsController } from './connections/connections.controller';
import { Connections } from './connections/connections.service';
import { CONNECTOR_REGISTRY, connectorRegistry } from './connectors/connector-registry';
import { rateBudgetCollection } from './connectors/rate-budget';
import {
  GOLDEN_HISTORY_MODEL,
  GOLDEN_KEY_MODEL,
  GOLDEN_RECORD_MODEL,
  SURVIVORSHIP_RULES_MODEL,
  goldenHistoryModel,
  goldenKeyModel,
  goldenRecordModel,
  survivorshipRulesModel,
} from './golden-records/golden-record.model';
import { GoldenRecordEventsHandler } from './golden-records/golden-record-events.handler';
import { ERASURE_MODEL, Erasures, erasureModel } from './golden-records/erasure.service';
import { GoldenMerges } from './golden-records/golden-merges.service';
import { GoldenRecordStore } from './golden-records/golden-record.store';
import { GoldenRecords } from './golden-records/golden-records.service';
import { GoldenRecordQueries } from './golden-records/golden-record.queries';
import { GoldenRecordsController } from './golden-records/golden-records.controller';
import { SurvivorshipRulesStore } from './golden-records/survivorship-rules.store';
import { syncOpenApiDocument } from './openapi/api-docs';
import { OutboundHandler } from './outbound/outbound.handler';
import { OutboundSync } from './outbound/outbound-sync.service';

const model = (token: symbol, factory: (c: Connection) => unknown) => ({
  provide: token,
  inject: [STORE_CONNECTION],
  useFactory: factory,
});

/** The vendors' APIs, HubSpot's under a request budget per account that the store shares among replicas. */
const registryProvider = {
  provide: CONNECTOR_REGISTRY,
  inject: [SERVICE_CONFIG, STORE_CONNECTION],
  useFactory: async (c: SyncConfig, store: Connection) =>
    connectorRegistry(
      { hubspot: c.HUBSPOT_API_URL, mailchimp: c.MAILCHIMP_API_URL },
      { budgets: await rateBudgetCollection(store), share: c.SYNC_RATE_BUDGET_SHARE },
    ),
};

/** Connections to vendors, change capture from them, and golden records. */
@Module({})
export class SyncModule {
  static readonly configureApp = (app: INestApplication): void => serveApiDocs(app, syncOpenApiDocument);

  /**
   * What the backfill CLI needs: the store, the publisher, connections and change capture, without HTTP, consumers,
   * the credential table or the background poll.
   */
  static forBackfill(config: SyncConfig): DynamicModule {
    const quiet = { ...config, SYNC_BACKGROUND_JOBS: false };
    return {
      module: SyncModule,
      imports: [EventServiceModule.forRoot(quiet)],
      providers: [
        Connections,
        ChangeCapture,
        model(CONNECTION_MODEL, connectionModel),
        model(CHANGE_CURSOR_MODEL, changeCursorModel),
        model(RECORD_VERSION_MODEL, recordVersionModel),
        registryProvider,
      ],
    };
  }

  static forRoot(config: SyncConfig): DynamicModule {
    return {
      module: SyncModule,
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        GoldenRecordEventsHandler,
        OutboundHandler,
        ConnectionsController,
        GoldenRecordsController,
      ],
      providers: [
        GoldenRecords,
        GoldenRecordStore,
        GoldenMerges,
        Erasures,
        OutboundSync,
        GoldenRecordQueries,
        SurvivorshipRulesStore,
        Connections,
        ChangeCapture,
        model(GOLDEN_RECORD_MODEL, goldenRecordModel),
        model(GOLDEN_KEY_MODEL, goldenKeyModel),
        model(GOLDEN_HISTORY_MODEL, goldenHistoryModel),
        model(SURVIVORSHIP_RULES_MODEL, survivorshipRulesModel),
        model(ERASURE_MODEL, erasureModel),
        model(CONNECTION_MODEL, connectionModel),
        model(CHANGE_CURSOR_MODEL, changeCursorModel),
        model(RECORD_VERSION_MODEL, recordVersionModel),
        registryProvider,
      ],
    };
  }
}
