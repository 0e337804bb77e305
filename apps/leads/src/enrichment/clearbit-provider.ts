import type { ContactAttributes } from '../contacts/contact-attributes';
import type { CompanyPersonLookups } from './clearbit-api';
import type { EnrichmentCache } from './enrichment-cache';
import { normalizeDomain, type EnrichmentProvider, type EnrichmentQuery } from './enrichment.port';

/**
 * The Clearbit-style API behind the port, through the cache. Company answers are keyed by domain (shared by every
 * workspace: public firmographics); person answers by workspace + email, so what one workspace's lookup learned
 * about a person is never served to another. The company lookup goes first and a failure skips the person lookup,
 * so a provider outage costs one retry budget, not two.
 */
export class ClearbitProvider implements EnrichmentProvider {
  readonly name = 'clearbit';

  constructor(
    private readonly api: CompanyPersonLookups,
    private readonly cache: EnrichmentCache,
  ) {}

  async enrich(query: EnrichmentQuery): Promise<Partial<ContactAttributes>> {
    const domain = normalizeDomain(query.domain);
    const email = query.email?.trim().toLowerCase();
    const company = domain
      ? await this.cache.lookup(`${this.name}:company:${domain}`, () => this.api.findCompany(domain))
      : null;
    const person = email
      ? await this.cache.lookup(`${this.name}:person:${query.workspaceId}:${email}`, () =>
          this.api.findPerson(email),
        )
      : null;
    // Where the person works and sits is more specific than the company's headquarters.
    return { ...company, ...person };
  }
}
