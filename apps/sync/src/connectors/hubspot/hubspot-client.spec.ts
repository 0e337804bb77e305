/**
 * The HubSpot SDK's limiter, as sync builds its clients: a search client made before another client still spaces its
 * searches at 90% of HubSpot's 4 a second (the SDK shares its decorators process-wide; see hubspot-client.ts).
 */
import { FakeHubSpot } from '@tributary/sandbox';
import { HUBSPOT_LIMITS } from './hubspot.connector';
import { hubSpotClient } from './hubspot-client';

let hubspot: FakeHubSpot;
beforeEach(() => {
  hubspot = new FakeHubSpot({ accessTokens: { 'pat-na1-limits': 'app' } });
});
afterEach(() => hubspot.stop());

it('keeps searches under HubSpot’s 4 a second when another client is made after the search client', async () => {
  const url = await hubspot.start();
  const search = hubSpotClient(url, 'pat-na1-limits', 'search', HUBSPOT_LIMITS.search, { retries: 0 });
  hubSpotClient(url, 'pat-na1-limits', 'requests', HUBSPOT_LIMITS.requests, { retries: 0 });
  await Promise.all(
    Array.from({ length: 10 }, () =>
      search.crm.objects.searchApi.doSearch('contacts', { filterGroups: [], limit: 1 } as never),
    ),
  );
  const arrivals = hubspot.requests.map((r) => r.at);
  expect(hubspot.requests.map((r) => r.status)).toEqual(Array(10).fill(200));
  const gaps = arrivals.slice(1).map((at, i) => at - (arrivals[i] ?? at));
  expect(Math.min(...gaps)).toBeGreaterThanOrEqual(240);
});
