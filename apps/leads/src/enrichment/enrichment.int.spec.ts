/**
 * Lead enrichment against a local Clearbit-style fake and the real store (FerretDB): the provider's 429 is waited
 * out for as long as its Retry-After says, an outage leaves leads pending with what offline providers know until
 * the provider is back, answers are cached in Mongo (a second enricher asks nothing), person answers stay in their
 * workspace, the client-side quota holds, and the API key never reaches a log line.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mongoose';
import { createLogger } from '@tributary/observability';
import { connectServiceStore } from '@tributary/store';
import { loadServiceConfig } from '@tributary/config';
import { FakeEnrichmentApi, testStackEndpoints, uniqueId } from '@tributary/testing';
import { MongoEnrichmentCacheStore } from './enrichment-cache';
import { enrichmentConfigShape } from './enrichment.config';
import { createLeadEnricher, type LeadEnricher } from './lead-enricher';

const run = uniqueId('enr');
const apiKey = `sk_test_${run}_secret`;
const COMPANIES = '/v2/companies/find';
const PEOPLE = '/v2/people/find';
const fake = new FakeEnrichmentApi({
  apiKey,
  companies: [
    {
      domain: 'brightlane.example',
      name: 'Brightlane Analytics',
      employees: 455,
      industry: 'SaaS',
      countryCode: 'DE',
    },
    { domain: 'waitwell.example', name: 'Waitwell', employees: 90, industry: 'Software', countryCode: 'US' },
    { domain: 'cachedco.example', name: 'Cached Co', employees: 1200, industry: 'Retail', countryCode: 'FR' },
    {
      domain: 'isolated.example',
      name: 'Isolated Inc',
      employees: 60,
      industry: 'Software',
      countryCode: 'GB',
    },
  ],
  people: [{ email: 'ada@isolated.example', givenName: 'Ada', title: 'VP Marketing', countryCode: 'GB' }],
});
const logLines: string[] = [];
const logger = createLogger('leads', 'debug', { write: (line: string) => void logLines.push(line) });
let connection: Connection;
let apiUrl: string;
const enrichers: LeadEnricher[] = [];

/** A fresh enricher (no in-process state) on the shared store, configured like the lead service from env-style strings. */
async function enricher(env: Record<string, string> = {}): Promise<LeadEnricher> {
  const config = loadServiceConfig(
    'leads',
    { ENRICHMENT_API_URL: apiUrl, ENRICHMENT_API_KEY: apiKey, ENRICHMENT_MAX_RETRY_MS: '2500', ...env },
    enrichmentConfigShape,
    { HTTP_PORT: '0' },
  );
  const created = await createLeadEnricher(config, connection, logger);
  enrichers.push(created);
  return created;
}

const requestsFor = (pathname: string, value: string) =>
  fake.requests.filter((r) => r.pathname === pathname && r.path.includes(encodeURIComponent(value)));

beforeAll(async () => {
  ({ url: apiUrl } = await fake.start());
  connection = await connectServiceStore(testStackEndpoints().mongoUrl, `test_${run}_enrichment`);
});

afterAll(async () => {
  for (const created of enrichers) created.close();
  await connection?.dropDatabase();
  await connection?.close();
  await fake.stop();
});

describe('lead enrichment on the real store', () => {
  it("waits out the provider's 429 for as long as its Retry-After says, then enriches", async () => {
    fake.rejectNext(1, { status: 429, retryAfterSeconds: 1 });
    const outcome = await (await enricher()).enrich({ workspaceId: 'ws_a', domain: 'waitwell.example' });

    expect(outcome).toMatchObject({
      state: 'enriched',
      attributes: { company: 'Waitwell', companySize: 90, country: 'US', region: 'NA' },
      sources: ['email-classifier', 'clearbit'],
    });
    const calls = requestsFor(COMPANIES, 'waitwell.example');
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    // Arrival times on the fake's clock: the retry came no sooner than the Retry-After it was given.
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('leaves a lead pending with the offline attributes while the provider is down, and enriches it once back', async () => {
    const lead = { workspaceId: 'ws_a', email: 'bo@brightlane.example' };
    fake.setDown(true);
    const pending = await (await enricher()).enrich(lead);
    expect(pending).toEqual({
      state: 'pending',
      // The bundled table's view of Brightlane.
      attributes: expect.objectContaining({
        company: 'Brightlane Analytics',
        companySize: 420,
        industry: 'Software',
      }),
      sources: ['email-classifier', 'company-table'],
      failure: expect.stringMatching(/^clearbit: HTTP 503 after [2-9] attempt\(s\)$/),
    });
    // Outages are not cached as "unknown".
    fake.setDown(false);
    const enriched = await (await enricher()).enrich(lead);
    expect(enriched).toMatchObject({
      state: 'enriched',
      attributes: { companySize: 455, industry: 'SaaS' },
      sources: ['email-classifier', 'company-table', 'clearbit'],
    });
  });

  it('answers from the Mongo cache, found and unknown alike, without a second request', async () => {
    const lead = { workspaceId: 'ws_a', email: 'cy@cachedco.example' };
    const first = await (await enricher()).enrich(lead);
    expect(first.attributes).toMatchObject({ company: 'Cached Co', companySize: 1200 });
    // The fake does not know cy: a miss, cached too.
    expect(requestsFor(COMPANIES, 'cachedco.example').map((c) => c.status)).toEqual([200]);
    expect(requestsFor(PEOPLE, 'cy@cachedco.example').map((c) => c.status)).toEqual([404]);

    const second = await (await enricher()).enrich(lead);
    expect(second).toEqual(first);
    expect(requestsFor(COMPANIES, 'cachedco.example')).toHaveLength(1);
    expect(requestsFor(PEOPLE, 'cy@cachedco.example')).toHaveLength(1);
  });

  it("never serves one workspace's person answer to another", async () => {
    const lead = { email: 'ada@isolated.example' };
    const a = await (await enricher()).enrich({ workspaceId: 'ws_a', ...lead });
    expect(a.attributes).toMatchObject({ firstName: 'Ada', title: 'VP Marketing' });

    fake.putPerson({ email: 'ada@isolated.example', givenName: 'Ada', title: 'CTO', countryCode: 'GB' });
    const b = await (await enricher()).enrich({ workspaceId: 'ws_b', ...lead });
    const aAgain = await (await enricher()).enrich({ workspaceId: 'ws_a', ...lead });

    expect(b.attributes).toMatchObject({ title: 'CTO' });
    expect(aAgain.attributes).toMatchObject({ title: 'VP Marketing' });
    expect(requestsFor(PEOPLE, 'ada@isolated.example')).toHaveLength(2);
    // Firmographics are public: one company lookup serves every workspace.
    expect(requestsFor(COMPANIES, 'isolated.example')).toHaveLength(1);
  });

  it('keeps within the client-side quota: past it, a lead is pending and the provider sees nothing', async () => {
    const limited = await enricher({ ENRICHMENT_QUOTA_PER_MINUTE: '2', ENRICHMENT_MAX_RETRY_MS: '200' });
    const domains = ['q1.example', 'q2.example', 'q3.example'];
    const outcomes = [];
    for (const domain of domains) outcomes.push(await limited.enrich({ workspaceId: 'ws_a', domain }));

    expect(outcomes.map((o) => o.state)).toEqual(['enriched', 'enriched', 'pending']);
    expect(outcomes[2]?.failure).toMatch(/client quota of 2\/min exhausted/);
    expect(domains.map((d) => requestsFor(COMPANIES, d).length)).toEqual([1, 1, 0]);
  });

  it('is pending when the provider refuses the key, and no log line carries a key', async () => {
    const wrongKey = `sk_wrong_${run}`;
    const outcome = await (
      await enricher({ ENRICHMENT_API_KEY: wrongKey })
    ).enrich({
      workspaceId: 'ws_a',
      domain: 'refused.example',
    });
    expect(outcome).toMatchObject({ state: 'pending', failure: 'clearbit: API key refused (HTTP 401)' });

    const logs = logLines.join('');
    expect(logs).toContain('enrichment-pending');
    expect(logs).toContain('enrichment-retry');
    expect(logs).not.toContain(apiKey);
    expect(logs).not.toContain(wrongKey);
  });

  it('never serves an expired cache entry', async () => {
    const store = new MongoEnrichmentCacheStore(connection);
    const now = Date.now();
    await store.write(`expired:${run}`, { company: 'Stale' }, new Date(now - 1_000));
    await store.write(`live:${run}`, { company: 'Fresh' }, new Date(now + 60_000));
    await store.write(`miss:${run}`, null, new Date(now + 60_000));
    await expect(store.read(`expired:${run}`, now)).resolves.toBeUndefined();
    await expect(store.read(`live:${run}`, now)).resolves.toEqual({ company: 'Fresh' });
    await expect(store.read(`miss:${run}`, now)).resolves.toBeNull();
  });

  it("uses the operator's company table over the bundled one, and refuses an unreadable one at boot", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'company-table-'));
    const path = join(dir, 'companies.json');
    await writeFile(
      path,
      JSON.stringify([{ domain: 'brightlane.example', name: 'Brightlane GmbH', employees: 510 }]),
    );
    const offline = await enricher({ ENRICHMENT_API_URL: '', COMPANY_TABLE_PATH: path });
    const outcome = await offline.enrich({ workspaceId: 'ws_a', email: 'ed@brightlane.example' });
    expect(outcome).toMatchObject({
      state: 'enriched',
      attributes: { company: 'Brightlane GmbH', companySize: 510 },
    });
    expect(outcome.attributes.industry).toBeUndefined();

    await expect(enricher({ COMPANY_TABLE_PATH: join(dir, 'missing.json') })).rejects.toThrow(
      /company table .*missing\.json: cannot read/,
    );
  });
});
