/**
 * Two systems kept consistent both ways on the real stack (Kafka, the registry, FerretDB), sync in this process,
 * HubSpot and Mailchimp as local fakes through their SDKs: edits in HubSpot reach Mailchimp once each and nothing
 * comes back to HubSpot; edits in Mailchimp reach HubSpot likewise; the same field edited on both sides at once ends
 * as the survivorship rule says on both, within two rounds of writes.
 */
import { stopTelemetry } from '@tributary/observability';
import { startService, type RunningService } from '@tributary/runtime';
import { FakeHubSpot, FakeMailchimp } from '@tributary/sandbox';
import { testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { SyncModule } from '../app.module';
import { loadSyncConfig } from '../config';
import { Connections } from '../connections/connections.service';

const run = uniqueId('both');
const TOKEN = `pat-na1-${run}`;
const KEY = `${'ab'.repeat(16)}-us21`;
let service: RunningService;
let hubspot: FakeHubSpot;
let mailchimp: FakeMailchimp;

beforeAll(async () => {
  hubspot = new FakeHubSpot({ accessTokens: { [TOKEN]: 'app-both' }, limits: { searchPerSecond: 50 } });
  mailchimp = new FakeMailchimp({ apiKeys: [KEY] });
  const config = loadSyncConfig(
    testServiceEnv('sync', run, {
      HUBSPOT_API_URL: await hubspot.start(),
      MAILCHIMP_API_URL: await mailchimp.start(),
      SYNC_POLL_TICK_MS: '200',
    }),
  );
  service = await startService(SyncModule.forRoot(config), config);
});

afterAll(async () => {
  await service?.close();
  await hubspot?.stop();
  await mailchimp?.stop();
  await stopTelemetry();
});

async function connectBoth(workspace: string): Promise<void> {
  const connections = service.app.get(Connections);
  for (const body of [
    { connector: 'hubspot', name: 'CRM', objects: ['contacts'], credentials: { accessToken: TOKEN } },
    {
      connector: 'mailchimp',
      name: 'Newsletter',
      objects: ['members'],
      credentials: { apiKey: KEY, listId: 'demo' },
    },
  ]) {
    const created = await connections.create(
      workspace,
      { ...body, pollIntervalSeconds: 1, lookbackSeconds: 2 },
      'k',
    );
    if (!created.ok) throw new Error(JSON.stringify(created.errors));
  }
}

/** Counts of writes each fake took (creates and updates), read from their request logs (searches and reads are POSTs). */
const writes = () => ({
  hubspot: hubspot.requests.filter(
    (r) => r.method !== 'GET' && !r.pathname.endsWith('/search') && !r.pathname.endsWith('/batch/read'),
  ).length,
  mailchimp: mailchimp.requests.filter((r) => r.method !== 'GET').length,
});

/** Waits until nothing more has been written for `ms` (change capture polls every second). */
async function settled(ms = 4_000): Promise<void> {
  let last = JSON.stringify(writes());
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const now = JSON.stringify(writes());
    if (now === last) return;
    last = now;
  }
}

describe('bidirectional sync, HubSpot and Mailchimp', () => {
  it('writes each HubSpot edit to Mailchimp once and nothing back to HubSpot, and Mailchimp edits to HubSpot', async () => {
    const ws = `ws_both_a_${run}`;
    const emails = Array.from({ length: 40 }, (_, i) => `p${i}-${run}@example.com`);
    const ids = hubspot.seed(
      'contacts',
      emails.map((email, i) => ({ email, firstname: `P${i}` })),
      Date.now() - 60_000,
    );
    await connectBoth(ws);
    await waitFor(
      'every contact in Mailchimp',
      async () => (emails.every((email) => mailchimp.member('demo', email)) ? true : undefined),
      { timeoutMs: 60_000 },
    );
    await settled();
    const before = writes();

    ids.forEach((id, i) => hubspot.edit('contacts', id, { lastname: `Edited ${i}` }));
    await waitFor(
      'every edit in Mailchimp',
      async () =>
        emails.every((email, i) => mailchimp.member('demo', email)?.merge_fields['LNAME'] === `Edited ${i}`)
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    );
    await settled();
    const afterHubSpotEdits = writes();
    expect(afterHubSpotEdits.mailchimp - before.mailchimp).toBe(40);
    expect(afterHubSpotEdits.hubspot - before.hubspot).toBe(0);

    const [first] = emails;
    mailchimp.edit('demo', first ?? '', { mergeFields: { COMPANY: 'Analytical Engines' } });
    await waitFor(
      'the Mailchimp edit in HubSpot',
      async () =>
        hubspot.record('contacts', ids[0] ?? '')?.properties['company'] === 'Analytical Engines'
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    await settled();
    const afterMailchimpEdit = writes();
    expect(afterMailchimpEdit.hubspot - afterHubSpotEdits.hubspot).toBe(1);
    expect(afterMailchimpEdit.mailchimp - afterHubSpotEdits.mailchimp).toBe(0);
  });

  it('converges a field edited on both sides at once to the later edit, on both, within two rounds', async () => {
    const ws = `ws_both_b_${run}`;
    const email = `both-${run}@example.com`;
    const [id] = hubspot.seed('contacts', [{ email, firstname: 'Grace' }], Date.now() - 60_000);
    await connectBoth(ws);
    await waitFor('the member in Mailchimp', async () => mailchimp.member('demo', email), {
      timeoutMs: 60_000,
    });
    await settled();
    const before = writes();

    // HubSpot's edit two seconds before Mailchimp's: most-recent (the default rule) keeps Mailchimp's.
    const now = Date.now();
    hubspot.edit('contacts', id ?? '', { firstname: 'Grace H.' }, now - 2_000);
    mailchimp.edit('demo', email, { mergeFields: { FNAME: 'Grace M.' } }, now);
    await waitFor(
      'both sides agree',
      async () =>
        hubspot.record('contacts', id ?? '')?.properties['firstname'] === 'Grace M.' &&
        mailchimp.member('demo', email)?.merge_fields['FNAME'] === 'Grace M.'
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    await settled();
    const after = writes();
    expect(after.hubspot - before.hubspot).toBeLessThanOrEqual(2);
    expect(after.mailchimp - before.mailchimp).toBeLessThanOrEqual(2);
    expect(hubspot.record('contacts', id ?? '')?.properties['firstname']).toBe('Grace M.');
    expect(mailchimp.member('demo', email)?.merge_fields['FNAME']).toBe('Grace M.');
  });
});
