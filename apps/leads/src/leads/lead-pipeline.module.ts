import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { ContactStoreModule } from '../contacts/contact-store.module';
import { EnrichmentModule } from '../enrichment/enrichment.module';
import { ENRICHMENT_RETRY_INTERVAL_MS, EnrichmentRetrier } from './enrichment-retrier';
import { LeadEventsHandler } from './lead-events.handler';
import { MAX_FUTURE_SKEW_MS } from './lead-clock';
import { leadPipelineUseCases } from './lead-pipeline.providers';
import { LeadsController } from './leads.controller';
import {
  ENRICHMENT_RETRY_POLICY,
  PendingEnrichments,
  type EnrichmentRetryPolicy,
} from './pending-enrichments';

type ModuleImport = DynamicModule | Type;

/**
 * The capabilities whose module the app module picks (with or without their HTTP API, merge handlers bound), given to
 * the pipeline so it shares their one instance; contacts' store and enrichment it imports itself.
 */
export interface LeadPipelineCapabilities {
  /** Exports IdentityResolver and IDENTITY_OPTIONS. */
  identity: ModuleImport;
  /** Exports ScoringModelStore. */
  models: ModuleImport;
  /** Exports the LeadRouting port (LEAD_ROUTING). */
  routing: ModuleImport;
}

export interface LeadPipelineOptions {
  maxFutureSkewMs: number;
  enrichmentRetry: EnrichmentRetryPolicy;
}

/** The lead pipeline and lifecycle: capture → identity → enrichment → score → stage → routing, on one contact. */
@Module({})
export class LeadPipelineModule {
  /**
   * With what feeds it and what sales calls: the consumer of tracking, captures and CRM changes, the leads API, and
   * with `backgroundJobs` the re-enrichment of pending contacts every `retryIntervalMs`.
   */
  static forRoot(
    options: LeadPipelineOptions & { backgroundJobs: boolean; retryIntervalMs: number },
    capabilities: LeadPipelineCapabilities,
  ): DynamicModule {
    const pipeline = LeadPipelineModule.headless(options, capabilities);
    const retrier = options.backgroundJobs
      ? [EnrichmentRetrier, { provide: ENRICHMENT_RETRY_INTERVAL_MS, useValue: options.retryIntervalMs }]
      : [];
    return {
      ...pipeline,
      controllers: [LeadEventsHandler, LeadsController],
      providers: [...(pipeline.providers ?? []), ...retrier],
    };
  }

  /** The use cases alone, for an application context (the rescore CLI): no consumer, API or interval job. */
  static headless(options: LeadPipelineOptions, capabilities: LeadPipelineCapabilities): DynamicModule {
    return {
      module: LeadPipelineModule,
      imports: [
        ContactStoreModule,
        EnrichmentModule,
        capabilities.identity,
        capabilities.models,
        capabilities.routing,
      ],
      providers: [
        ...leadPipelineUseCases,
        PendingEnrichments,
        { provide: ENRICHMENT_RETRY_POLICY, useValue: options.enrichmentRetry },
        { provide: MAX_FUTURE_SKEW_MS, useValue: options.maxFutureSkewMs },
      ],
    };
  }
}
