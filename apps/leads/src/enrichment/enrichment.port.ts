import type { ContactAttributes } from '../contacts/contact-attributes';

/** Who to enrich: an email, a company domain, or both (a business email's domain when only the email is known). */
export interface EnrichmentQuery {
  workspaceId: string;
  email?: string;
  domain?: string;
}

/** One source of contact and company facts (offline table, classifier, a third-party API). */
export interface EnrichmentProvider {
  readonly name: string;
  /** What this provider knows about the query; `{}` when nothing. Throws ProviderUnavailableError when it cannot answer now. */
  enrich(query: EnrichmentQuery): Promise<Partial<ContactAttributes>>;
}

/**
 * A provider could not answer now (down, rate limited past our retry budget, credentials refused): the lead is
 * scored on what offline providers gave and marked pending, to be enriched again later. The message never carries
 * credentials or the looked-up email.
 */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly provider: string,
    readonly reason: string,
  ) {
    super(`${provider}: ${reason}`);
    this.name = 'ProviderUnavailableError';
  }
}

/** The lowercase domain of an email address, or undefined when it has none. */
export function emailDomainOf(email: string | undefined): string | undefined {
  const at = email?.lastIndexOf('@') ?? -1;
  return email && at > 0 ? normalizeDomain(email.slice(at + 1)) : undefined;
}

/** `Brightlane.example.` or `https://www.brightlane.example/about` → `brightlane.example`; undefined when empty. */
export function normalizeDomain(value: string | undefined): string | undefined {
  const domain = value
    ?.trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, '')
    .replace(/[/?#].*$/, '')
    .replace(/^www\./, '')
    .replace(/\.$/, '');
  return domain ? domain : undefined;
}
