import type { CompanyPersonLookups } from './clearbit-api';
import { ClearbitProvider } from './clearbit-provider';
import { CompanyTableProvider, buildCompanyTable } from './company-table';
import { EmailClassifier } from './email-classifier';
import { EnrichmentCache, type EnrichmentCacheStore, type ProviderAnswer } from './enrichment-cache';
import { ProviderUnavailableError } from './enrichment.port';
import { LeadEnricher } from './lead-enricher';

/** The cache store in memory, recording how long each answer was kept. */
class MemoryStore implements EnrichmentCacheStore {
  readonly entries = new Map<string, { answer: ProviderAnswer; expiresAt: Date }>();
  async read(key: string, now: number): Promise<ProviderAnswer | undefined> {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt.getTime() > now ? entry.answer : undefined;
  }
  async write(key: string, answer: ProviderAnswer, expiresAt: Date): Promise<void> {
    this.entries.set(key, { answer, expiresAt });
  }
}

/** A provider API whose answers the test releases, counting calls per lookup. */
class StubLookups implements CompanyPersonLookups {
  readonly companyCalls: string[] = [];
  readonly personCalls: string[] = [];
  company: () => Promise<ProviderAnswer> = async () => ({ companySize: 800, industry: 'Software' });
  person: () => Promise<ProviderAnswer> = async () => null;
  findCompany(domain: string): Promise<ProviderAnswer> {
    this.companyCalls.push(domain);
    return this.company();
  }
  findPerson(email: string): Promise<ProviderAnswer> {
    this.personCalls.push(email);
    return this.person();
  }
}

const HOUR = 3_600_000;

function enricherWith(api: StubLookups, store = new MemoryStore()): LeadEnricher {
  const cache = new EnrichmentCache(store, { foundMs: 168 * HOUR, missMs: 24 * HOUR });
  return new LeadEnricher({
    offline: [new EmailClassifier(), new CompanyTableProvider(buildCompanyTable())],
    remote: [new ClearbitProvider(api, cache)],
  });
}

describe('lead enricher', () => {
  it('coalesces concurrent lookups of one company into one provider call', async () => {
    const api = new StubLookups();
    const waiting: ((answer: ProviderAnswer) => void)[] = [];
    api.company = () => new Promise((resolve) => waiting.push(resolve));
    const enricher = enricherWith(api);

    const outcomes = Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        enricher.enrich({ workspaceId: 'ws_a', email: `lead${i}@acme.example` }),
      ),
    );
    // Let every lead pass the offline providers and the cache read before the provider answers.
    await new Promise((resolve) => setImmediate(resolve));
    for (const release of waiting) release({ company: 'Acme Analytics', companySize: 800 });

    const results = await outcomes;
    expect(api.companyCalls).toEqual(['acme.example']);
    // People are distinct keys: each is looked up once.
    expect(new Set(api.personCalls).size).toBe(10);
    for (const result of results)
      expect(result).toMatchObject({
        state: 'enriched',
        attributes: { company: 'Acme Analytics', companySize: 800 },
      });
  });

  it('coalesces concurrent lookups of one person within a workspace, never across workspaces', async () => {
    const api = new StubLookups();
    const enricher = enricherWith(api);
    await Promise.all([
      ...Array.from({ length: 5 }, () => enricher.enrich({ workspaceId: 'ws_a', email: 'ada@acme.example' })),
      enricher.enrich({ workspaceId: 'ws_b', email: 'ada@acme.example' }),
    ]);
    expect(api.personCalls).toEqual(['ada@acme.example', 'ada@acme.example']);
    expect(api.companyCalls).toEqual(['acme.example']);
  });

  it('is pending with the offline attributes when the provider is unavailable', async () => {
    const api = new StubLookups();
    api.company = () =>
      Promise.reject(new ProviderUnavailableError('clearbit', 'HTTP 503 after 4 attempt(s)'));
    const outcome = await enricherWith(api).enrich({ workspaceId: 'ws_a', email: 'ada@brightlane.example' });
    expect(outcome).toEqual({
      state: 'pending',
      attributes: {
        freeMail: false,
        disposableEmail: false,
        companyDomain: 'brightlane.example',
        company: 'Brightlane Analytics',
        companySize: 420,
        industry: 'Software',
        country: 'DE',
        region: 'EMEA',
      },
      sources: ['email-classifier', 'company-table'],
      failure: 'clearbit: HTTP 503 after 4 attempt(s)',
    });
    // A failed company lookup skips the person lookup: one retry budget per lead, not two.
    expect(api.personCalls).toEqual([]);
  });

  it('is pending, not failed, when a provider throws something unexpected', async () => {
    const api = new StubLookups();
    api.company = () => Promise.reject(new TypeError('cannot read properties of undefined'));
    const outcome = await enricherWith(api).enrich({ workspaceId: 'ws_a', email: 'ada@acme.example' });
    expect(outcome).toMatchObject({
      state: 'pending',
      failure: 'clearbit: cannot read properties of undefined',
    });
  });

  it('lets the provider override the bundled table and names every source', async () => {
    const api = new StubLookups();
    api.company = async () => ({ companySize: 455, industry: 'SaaS' });
    api.person = async () => ({ title: 'VP Marketing', country: 'AT', region: 'EMEA' });
    const outcome = await enricherWith(api).enrich({ workspaceId: 'ws_a', email: 'ada@brightlane.example' });
    expect(outcome).toMatchObject({
      state: 'enriched',
      sources: ['email-classifier', 'company-table', 'clearbit'],
      attributes: {
        company: 'Brightlane Analytics',
        companySize: 455,
        industry: 'SaaS',
        title: 'VP Marketing',
        country: 'AT',
      },
    });
  });

  it('never sends a free-mail or disposable address to the provider', async () => {
    const api = new StubLookups();
    const enricher = enricherWith(api);
    const free = await enricher.enrich({ workspaceId: 'ws_a', email: 'ada@gmail.com', domain: 'gmail.com' });
    const burner = await enricher.enrich({ workspaceId: 'ws_a', email: 'x@mailinator.com' });
    expect(free).toEqual({
      state: 'enriched',
      attributes: { freeMail: true, disposableEmail: false },
      sources: ['email-classifier'],
    });
    expect(burner.attributes).toEqual({ freeMail: false, disposableEmail: true });
    expect([...api.companyCalls, ...api.personCalls]).toEqual([]);
  });

  it('keeps answers for the configured TTL and "unknown" for the shorter miss TTL', async () => {
    const api = new StubLookups();
    api.company = async () => null;
    api.person = async () => ({ title: 'CTO' });
    const store = new MemoryStore();
    const before = Date.now();
    await enricherWith(api, store).enrich({ workspaceId: 'ws_a', email: 'ada@acme.example' });
    const kept = (key: string) => (store.entries.get(key)?.expiresAt.getTime() ?? 0) - before;
    const miss = kept('clearbit:company:acme.example');
    const found = kept('clearbit:person:ws_a:ada@acme.example');
    expect(store.entries.get('clearbit:company:acme.example')?.answer).toBeNull();
    expect(miss).toBeGreaterThanOrEqual(24 * HOUR);
    expect(miss).toBeLessThan(25 * HOUR);
    expect(found).toBeGreaterThanOrEqual(168 * HOUR);
  });
});
