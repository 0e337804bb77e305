import { Module, type DynamicModule, type INestApplication, type Provider } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { SharedAccessModule } from '@tributary/access';
import { EventServiceModule } from '@tributary/runtime';
import { STORE_CONNECTION } from '@tributary/store';
import type { LeadsConfig } from './config';
import { CONTACT_MODEL, contactModel } from './contacts/contact.model';
import { ContactRepository } from './contacts/contact.repository';
import { ContactsController } from './contacts/contacts.controller';
import { enrichmentProviders } from './enrichment/lead-enricher';
import {
  ContactMerger,
  MERGED_CONTACT_HANDLERS,
  type MergedContactHandler,
} from './identity/contact-merger.service';
import { IDENTITY_OPTIONS, IdentityResolver } from './identity/identity-resolver.service';
import type { IdentityOptions } from './identity/identity-rules';
import {
  CONTACT_MERGE_MODEL,
  IDENTITY_MODEL,
  contactMergeModel,
  identityModel,
} from './identity/identity.model';
import { ENRICHMENT_RETRY_INTERVAL_MS, EnrichmentRetrier } from './leads/enrichment-retrier';
import { LeadEventsHandler } from './leads/lead-events.handler';
import { MAX_FUTURE_SKEW_MS } from './leads/lead-clock';
import { leadPipelineUseCases } from './leads/lead-pipeline.providers';
import { LeadsController } from './leads/leads.controller';
import {
  ENRICHMENT_RETRY_POLICY,
  PendingEnrichments,
  type EnrichmentRetryPolicy,
} from './leads/pending-enrichments';
import { captureScoringModelBody } from './models/scoring-model-body';
import { ScoringModelController } from './models/scoring-model.controller';
import { scoringModelProviders } from './models/scoring-model.store';
import { ROUTING_OPTIONS } from './routing/lead-router.service';
import { LEAD_ROUTING, type LeadRouting } from './routing/lead-routing.port';
import { routingControllers, routingOptionsOf, routingProviders } from './routing/routing.providers';

/**
 * The lead pipeline and what it needs (identity, enrichment, models, routing, contacts), without HTTP controllers,
 * consumers, the credential table or interval jobs: shared by the service and the one-shot tools.
 */
function leadPipelineProviders(config: LeadsConfig): Provider[] {
  return [
    ...leadPipelineUseCases,
    ContactRepository,
    IdentityResolver,
    ContactMerger,
    PendingEnrichments,
    ...enrichmentProviders,
    ...scoringModelProviders({ cacheTtlMs: config.SCORING_MODEL_CACHE_TTL_MS }),
    ...routingProviders,
    // A contact merged away frees its owner: identity tells routing through a handler list, so neither imports
    // the other.
    {
      provide: MERGED_CONTACT_HANDLERS,
      inject: [LEAD_ROUTING],
      useFactory: (router: LeadRouting): MergedContactHandler[] => [
        {
          onContactMerged: async ({ workspaceId, mergedContactId }) => {
            await router.close(workspaceId, mergedContactId, { final: true });
          },
        },
      ],
    },
    {
      provide: ENRICHMENT_RETRY_POLICY,
      useValue: {
        baseDelayMs: config.ENRICHMENT_RETRY_BASE_MS,
        maxDelayMs: config.ENRICHMENT_RETRY_MAX_MS,
        leaseMs: 60_000,
      } satisfies EnrichmentRetryPolicy,
    },
    {
      provide: IDENTITY_OPTIONS,
      useValue: { stripPlusAddressing: config.IDENTITY_STRIP_PLUS_ADDRESSING } satisfies IdentityOptions,
    },
    { provide: MAX_FUTURE_SKEW_MS, useValue: config.MAX_FUTURE_SKEW_SECONDS * 1000 },
    {
      provide: IDENTITY_MODEL,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection) => identityModel(c),
    },
    {
      provide: CONTACT_MERGE_MODEL,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection) => contactMergeModel(c),
    },
    {
      provide: CONTACT_MODEL,
      inject: [STORE_CONNECTION],
      useFactory: (c: Connection) => contactModel(c),
    },
  ];
}

/**
 * Lead management: identity resolution, enrichment, scoring models, routing with SLAs and lifecycle stages, fed by
 * behaviour (`tracking.events`), captures (`leads.captured`) and CRM changes (`records.changed`).
 */
@Module({})
export class LeadsModule {
  /** Scoring models may be PUT as YAML: a text body parser for those content types. */
  static readonly configureApp = (app: INestApplication): void => captureScoringModelBody(app);

  static forRoot(config: LeadsConfig): DynamicModule {
    return {
      module: LeadsModule,
      // The edge's API keys, OAuth clients and scopes, learnt from `access.credentials` (plus bootstrap WRITE_KEYS).
      imports: [EventServiceModule.forRoot(config), SharedAccessModule.forRoot(config)],
      controllers: [
        LeadEventsHandler,
        ContactsController,
        LeadsController,
        ScoringModelController,
        ...routingControllers,
      ],
      providers: [
        ...leadPipelineProviders(config),
        ...(config.LEADS_BACKGROUND_JOBS ? [EnrichmentRetrier] : []),
        { provide: ENRICHMENT_RETRY_INTERVAL_MS, useValue: config.ENRICHMENT_RETRY_INTERVAL_MS },
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
    return {
      module: LeadsModule,
      imports: [EventServiceModule.forRoot(quiet)],
      providers: [
        ...leadPipelineProviders(quiet),
        // After the shared list, so it wins: no SLA sweep whatever the environment says.
        { provide: ROUTING_OPTIONS, useValue: { ...routingOptionsOf(quiet), sweep: false } },
      ],
    };
  }
}
