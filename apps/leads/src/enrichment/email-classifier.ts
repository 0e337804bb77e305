import { disposableEmailBlocklistSet } from 'disposable-email-domains-js';
import freeMailDomains from 'email-providers/all.json';
import type { ContactAttributes } from '../contacts/contact-attributes';
import {
  emailDomainOf,
  normalizeDomain,
  type EnrichmentProvider,
  type EnrichmentQuery,
} from './enrichment.port';

const FREE_MAIL = new Set<string>(freeMailDomains);
// Built once: the package's `isDisposableEmailDomain` builds this Set from its ~8,900-domain list on every call
// (0.8 ms each, up to three per lead), which was 40% of the lead service's CPU in a burst of captured leads.
const DISPOSABLE = disposableEmailBlocklistSet();

/** How a mail domain is used: a consumer mailbox, a throwaway inbox, or (by elimination) a company's. */
export interface DomainClass {
  freeMail: boolean;
  disposableEmail: boolean;
}

/**
 * Classifies a domain. The free-mail list also holds many throwaway domains; a domain on the disposable list is
 * reported as disposable only, so scoring rules do not count the same address twice.
 */
export function classifyDomain(domain: string): DomainClass {
  const disposableEmail = DISPOSABLE.has(domain.trim().toLowerCase());
  return { disposableEmail, freeMail: !disposableEmail && FREE_MAIL.has(domain) };
}

const isBusiness = (domain: string | undefined): domain is string => {
  if (!domain) return false;
  const { freeMail, disposableEmail } = classifyDomain(domain);
  return !freeMail && !disposableEmail;
};

/**
 * Offline: free-mail and disposable flags of the email's domain, and `companyDomain` when it is a business one.
 * With a free-mail email and an explicit domain (a form's company website), the company is that domain.
 */
export class EmailClassifier implements EnrichmentProvider {
  readonly name = 'email-classifier';

  async enrich(query: EnrichmentQuery): Promise<Partial<ContactAttributes>> {
    const mailDomain = emailDomainOf(query.email);
    const givenDomain = normalizeDomain(query.domain);
    const classified = mailDomain ?? givenDomain;
    if (!classified) return {};
    const companyDomain = [mailDomain, givenDomain].find(isBusiness);
    return { ...classifyDomain(classified), ...(companyDomain ? { companyDomain } : {}) };
  }
}
