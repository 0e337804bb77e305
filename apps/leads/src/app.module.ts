import { Module, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule } from '@tributary/runtime';
import type { LeadsConfig } from './config';
import { ContactStoreModule } from './contacts/contact-store.module';
import { ContactsModule } from './contacts/contacts.module';
import { EnrichmentModule } from './enrichment/enrichment.module';
import type { MergedContactHandler } from './identity/contact-merger.service';
import { IdentityModule } from './identity/identity.module';
import { LeadPipelineModule, type LeadPipelineOptions } from './leads/lead-pipeline.module';
import { captureScoringModelBody } from './models/scoring-model-body';
import { ScoringModelsModule } from './models/scoring-models.module';
import { LEAD_ROUTING, type LeadRouting } from './routing/lead-routing.port';
import { RoutingModule } from './routing/routing.module';

type ModuleImport = DynamicModule | Type;

/**
 * Identity over the contact store, its merges followed by `routing`: a contact merged away frees its owner. Identity
 * only knows its handler list and routing only its port; they meet here.
 */
function identityModule(config: LeadsConfig, routing: ModuleImport): DynamicModule {
  return IdentityModule.forRoot({
    stripPlusAddressing: config.IDENTITY_STRIP_PLUS_ADDRESSING,
    mergedContactHandlers: {
      imports: [routing],
      inject: [LEAD_ROUTING],
      useFactory: (router: LeadRouting): MergedContactHandler[] => [
        {
          onContactMerged: async ({ workspaceId, mergedContactId }) => {
            await router.close(workspaceId, mergedContactId, { final: true });
          },
        },
      ],
    },
  });
}

/** The pipeline's bound on event clocks and its re-enrichment backoff, from the config. */
function pipelineOptions(config: LeadsConfig): LeadPipelineOptions {
  return {
    maxFutureSkewMs: config.MAX_FUTURE_SKEW_SECONDS * 1000,
    enrichmentRetry: {
      baseDelayMs: config.ENRICHMENT_RETRY_BASE_MS,
      maxDelayMs: config.ENRICHMENT_RETRY_MAX_MS,
      leaseMs: 60_000,
    },
  };
}

/**
 * Lead management: identity resolution, enrichment, scoring models, routing with SLAs and lifecycle stages, fed by
 * behaviour (`tracking.events`), captures (`leads.captured`) and CRM changes (`records.changed`). One module per
 * capability; this one picks the variant of each (with or without HTTP, merge handlers bound). Nest tells dynamic
 * modules apart by reference, so each is built once here and the same object given to every module importing it.
 */
@Module({})
export class LeadsModule {
  /** Scoring models may be PUT as YAML: a text body parser for those content types. */
  static readonly configureApp = (app: INestApplication): void => captureScoringModelBody(app);

  static forRoot(config: LeadsConfig): DynamicModule {
    const routing = RoutingModule;
    const models = ScoringModelsModule.forRoot({ cacheTtlMs: config.SCORING_MODEL_CACHE_TTL_MS });
    const identity = identityModule(config, routing);
    return {
      module: LeadsModule,
      imports: [
        EventServiceModule.forRoot(config),
        // The edge's API keys, OAuth clients and scopes, from `access.credentials` (plus bootstrap WRITE_KEYS).
        SharedAccessModule.forRoot(config),
        ContactStoreModule,
        identity,
        EnrichmentModule,
        models,
        routing,
        LeadPipelineModule.forRoot(
          {
            ...pipelineOptions(config),
            backgroundJobs: config.LEADS_BACKGROUND_JOBS,
            retryIntervalMs: config.ENRICHMENT_RETRY_INTERVAL_MS,
          },
          { identity, models, routing },
        ),
        ContactsModule.forRoot({ identity, routing }),
      ],
    };
  }

  /**
   * What the rescore CLI needs and nothing more: the store, the publisher (scores, stages and assignments are
   * announced) and the lead pipeline. No credential table (nobody calls it over HTTP, so it does not wait to read
   * `access.credentials`), no controllers or consumers, no sweeps or re-enrichment: for an application context
   * (`NestFactory.createApplicationContext`), never for `startService`.
   */
  static forRescore(config: LeadsConfig): DynamicModule {
    const quiet = { ...config, LEADS_BACKGROUND_JOBS: false };
    // No SLA sweep whatever the environment says.
    const routing = RoutingModule.headless({ sweep: false });
    const models = ScoringModelsModule.headless({ cacheTtlMs: quiet.SCORING_MODEL_CACHE_TTL_MS });
    const identity = identityModule(quiet, routing);
    return {
      module: LeadsModule,
      imports: [
        EventServiceModule.forRoot(quiet),
        ContactStoreModule,
        identity,
        EnrichmentModule,
        models,
        routing,
        LeadPipelineModule.headless(pipelineOptions(quiet), { identity, models, routing }),
      ],
    };
  }
}
