import { Module } from '@nestjs/common';
import { LeadEnricher, enrichmentProviders } from './lead-enricher';

/** Enrichment: fills a lead's profile from the offline providers, then the Clearbit-style API when configured. */
@Module({ providers: enrichmentProviders, exports: [LeadEnricher] })
export class EnrichmentModule {}
