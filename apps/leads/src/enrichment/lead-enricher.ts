import type { OnModuleDestroy, Provider } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { STORE_CONNECTION } from '@tributary/store';
import { type Logger, SERVICE_LOGGER } from '@tributary/observability';
import { SERVICE_CONFIG } from '@tributary/config';
import type { ContactAttributes } from '../contacts/contact-attributes';
import { ClearbitApi } from './clearbit-api';
import { ClearbitProvider } from './clearbit-provider';
import { CompanyTableProvider, loadCompanyTable } from './company-table';
import { EmailClassifier } from './email-classifier';
import { EnrichmentCache, MongoEnrichmentCacheStore } from './enrichment-cache';
import type { EnrichmentConfig } from './enrichment.config';
import { ProviderUnavailableError, type EnrichmentProvider, type EnrichmentQuery } from './enrichment.port';

/** What enrichment found: `pending` when a provider could not answer now (the lead is scored on the rest). */
export interface EnrichmentOutcome {
  attributes: Partial<ContactAttributes>;
  state: 'enriched' | 'pending';
  /** Providers that contributed at least one attribute, in the order they ran. */
  sources: string[];
  /** Why it is pending: provider and reason, never the key or the email. */
  failure?: string;
}

export interface LeadEnricherProviders {
  /** Always on, no network: run first, in order, later ones overriding earlier ones field by field. */
  offline: EnrichmentProvider[];
  /** Third-party APIs, asked only about a business domain and email; their answers override offline ones. */
  remote: EnrichmentProvider[];
}

const HOUR_MS = 3_600_000;

/**
 * Fills a lead's profile from offline providers, then remote ones. Free-mail and disposable addresses are never sent
 * to a remote provider (nothing to learn, quota to lose). A remote provider that cannot answer leaves the outcome
 * `pending` with everything else it found, so the lead is still scored and can be re-enriched later.
 */
export class LeadEnricher implements OnModuleDestroy {
  constructor(
    private readonly providers: LeadEnricherProviders,
    private readonly logger?: Logger,
    private readonly onClose: () => void = () => undefined,
  ) {}

  async enrich(query: EnrichmentQuery): Promise<EnrichmentOutcome> {
    const attributes: Partial<ContactAttributes> = {};
    const sources: string[] = [];
    const take = (provider: EnrichmentProvider, found: Partial<ContactAttributes>) => {
      const defined = Object.entries(found).filter(([, value]) => value !== undefined);
      if (defined.length === 0) return;
      Object.assign(attributes, Object.fromEntries(defined));
      sources.push(provider.name);
    };
    for (const provider of this.providers.offline) take(provider, await provider.enrich(query));

    const remoteQuery = this.remoteQuery(query, attributes);
    const failures: string[] = [];
    if (remoteQuery) {
      for (const provider of this.providers.remote) {
        try {
          take(provider, await provider.enrich(remoteQuery));
        } catch (error) {
          failures.push(this.failure(provider, error, query.workspaceId));
        }
      }
    }
    return failures.length === 0
      ? { attributes, state: 'enriched', sources }
      : { attributes, state: 'pending', sources, failure: failures.join('; ') };
  }

  onModuleDestroy(): void {
    this.close();
  }

  /** Stops background work (the cache sweeper). */
  close(): void {
    this.onClose();
  }

  /** The business domain and email offline providers found, or undefined when there is nothing worth a request. */
  private remoteQuery(
    query: EnrichmentQuery,
    found: Partial<ContactAttributes>,
  ): EnrichmentQuery | undefined {
    const domain = found.companyDomain;
    if (!domain) return undefined;
    const businessEmail = query.email && !found.freeMail && !found.disposableEmail ? query.email : undefined;
    return { workspaceId: query.workspaceId, domain, ...(businessEmail ? { email: businessEmail } : {}) };
  }

  private failure(provider: EnrichmentProvider, error: unknown, workspaceId: string): string {
    if (error instanceof ProviderUnavailableError) {
      this.logger?.warn(
        { event: 'enrichment-pending', provider: provider.name, workspaceId, reason: error.reason },
        'enrichment provider unavailable; lead left pending',
      );
      return error.message;
    }
    // A provider bug or an answer we cannot read: still a provider problem, so the lead waits rather than fails.
    this.logger?.error(
      { event: 'enrichment-failed', provider: provider.name, workspaceId, err: error },
      'enrichment provider failed; lead left pending',
    );
    return `${provider.name}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * The enricher of the lead service's configuration: classifier and company table always, the Clearbit-style API with its
 * Mongo cache (`enrichment_cache`) when ENRICHMENT_API_URL is set. Fails at boot on an unreadable company table.
 */
export async function createLeadEnricher(
  config: EnrichmentConfig,
  connection: Connection,
  logger?: Logger,
): Promise<LeadEnricher> {
  const log = logger?.child({ component: 'enrichment' });
  const offline = [
    new EmailClassifier(),
    new CompanyTableProvider(await loadCompanyTable(config.COMPANY_TABLE_PATH)),
  ];
  if (!config.ENRICHMENT_API_URL) {
    log?.info(
      { event: 'enrichment-offline' },
      'enrichment: offline providers only (ENRICHMENT_API_URL unset)',
    );
    return new LeadEnricher({ offline, remote: [] }, log);
  }
  const store = new MongoEnrichmentCacheStore(connection);
  await store.init();
  const cache = new EnrichmentCache(
    store,
    {
      foundMs: config.ENRICHMENT_CACHE_TTL_HOURS * HOUR_MS,
      missMs: config.ENRICHMENT_MISS_TTL_HOURS * HOUR_MS,
    },
    log,
  );
  const api = new ClearbitApi({
    baseUrl: config.ENRICHMENT_API_URL,
    apiKey: config.ENRICHMENT_API_KEY,
    timeoutMs: config.ENRICHMENT_TIMEOUT_MS,
    maxRetryMs: config.ENRICHMENT_MAX_RETRY_MS,
    quotaPerMinute: config.ENRICHMENT_QUOTA_PER_MINUTE,
    logger: log,
  });
  log?.info(
    {
      event: 'enrichment-remote',
      // The origin only: a URL may carry credentials.
      api: new URL(config.ENRICHMENT_API_URL).origin,
      keyed: Boolean(config.ENRICHMENT_API_KEY),
    },
    'enrichment: offline providers and the Clearbit-style API',
  );
  return new LeadEnricher({ offline, remote: [new ClearbitProvider(api, cache)] }, log, () => store.close());
}

/** Nest providers of LeadEnricher for EnrichmentModule (needs SERVICE_CONFIG to carry enrichmentConfigShape's keys). */
export const enrichmentProviders: Provider[] = [
  {
    provide: LeadEnricher,
    inject: [SERVICE_CONFIG, STORE_CONNECTION, SERVICE_LOGGER],
    useFactory: (config: EnrichmentConfig, connection: Connection, logger: Logger) =>
      createLeadEnricher(config, connection, logger),
  },
];
