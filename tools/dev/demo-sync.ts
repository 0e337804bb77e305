/**
 * The sync demo of `npm start`: a sandbox HubSpot portal (the HubSpot fake, reached through the official SDK) holding
 * the demo prospects and their companies, a sandbox Mailchimp audience that sync fills from the golden records, the
 * demo workspace connected to both through sync's API (once: a connection made while exploring survives a restart),
 * and a colleague editing a contact in HubSpot now and then, which reaches the golden record and the audience.
 */
import { FakeHubSpot, FakeMailchimp } from '@tributary/sandbox';
import { DEMO_PROSPECTS } from './demo-traffic';

/** Where the sandbox HubSpot listens (SANDBOX_HUBSPOT_PORT moves it). */
const SANDBOX_HUBSPOT_PORT = Number(process.env['SANDBOX_HUBSPOT_PORT'] ?? 4022);
/** Where the sandbox Mailchimp listens (SANDBOX_MAILCHIMP_PORT moves it). */
const SANDBOX_MAILCHIMP_PORT = Number(process.env['SANDBOX_MAILCHIMP_PORT'] ?? 4023);
/** The sandbox audience's API key (data center us21) and list. */
export const SANDBOX_MAILCHIMP_KEY = '5a4db0c0000000000000000000000001-us21';
export const SANDBOX_MAILCHIMP_LIST = 'demo';
/** The sandbox takes this private app token only, as a portal would. */
export const SANDBOX_HUBSPOT_TOKEN = 'pat-na1-00000000-0000-4000-8000-sandbox00001';
const JOB_TITLES = [
  'Head of Growth',
  'VP Marketing',
  'CMO',
  'Director of Demand Generation',
  'Marketing Manager',
];

export interface CrmSandbox {
  url: string;
  /** The sandbox Mailchimp audience, which sync fills from the golden records (and reads edits from). */
  mailchimpUrl: string;
  stop(): Promise<void>;
}

/** Starts the sandbox portal with the demo prospects and their companies, and a colleague editing a contact every `editEveryMs`. */
export async function startCrmSandbox(editEveryMs = 20_000): Promise<CrmSandbox> {
  const hubspot = new FakeHubSpot({ accessTokens: { [SANDBOX_HUBSPOT_TOKEN]: 'tributary-demo' } });
  const url = await hubspot.start(SANDBOX_HUBSPOT_PORT);
  const contacts = hubspot.seed(
    'contacts',
    DEMO_PROSPECTS.map((p) => ({
      email: p.email,
      firstname: p.firstName,
      lastname: p.lastName,
      jobtitle: p.title,
      company: p.company,
      country: p.country,
      lifecyclestage: 'lead',
    })),
  );
  hubspot.seed(
    'companies',
    DEMO_PROSPECTS.map((p) => ({ name: p.company, domain: p.email.split('@')[1] ?? '', country: p.country })),
  );
  let turn = 0;
  const colleague = setInterval(() => {
    const id = contacts[turn % contacts.length];
    if (id) hubspot.edit('contacts', id, { jobtitle: JOB_TITLES[turn % JOB_TITLES.length] as string });
    turn += 1;
  }, editEveryMs);
  colleague.unref();
  const mailchimp = new FakeMailchimp({ apiKeys: [SANDBOX_MAILCHIMP_KEY] });
  const mailchimpUrl = await mailchimp.start(SANDBOX_MAILCHIMP_PORT);
  return {
    url,
    mailchimpUrl,
    stop: async () => {
      clearInterval(colleague);
      await hubspot.stop();
      await mailchimp.stop();
    },
  };
}

/** Connects the demo workspace to the sandbox portal and audience through sync's API, unless it is connected. */
export async function setUpDemoSync(options: {
  syncUrl: string;
  writeKey: string;
}): Promise<{ summary: string[] }> {
  const headers = {
    authorization: `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`,
    'content-type': 'application/json',
  };
  const listed = await fetch(`${options.syncUrl}/v1/connections`, { headers });
  if (!listed.ok) throw new Error(`GET /v1/connections answered ${listed.status}: ${await listed.text()}`);
  const { connections } = (await listed.json()) as { connections: { id: string; connector: string }[] };
  const wanted = [
    {
      connector: 'hubspot',
      name: 'Sandbox HubSpot portal',
      objects: ['contacts', 'companies'],
      credentials: { accessToken: SANDBOX_HUBSPOT_TOKEN },
      what: 'polling the sandbox portal every 5 s',
    },
    {
      connector: 'mailchimp',
      name: 'Sandbox newsletter audience',
      objects: ['members'],
      credentials: { apiKey: SANDBOX_MAILCHIMP_KEY, listId: SANDBOX_MAILCHIMP_LIST },
      what: 'filled from the golden records, read back every 5 s',
    },
  ];
  const summary: string[] = [];
  for (const { what, ...body } of wanted) {
    const existing = connections.find((c) => c.connector === body.connector);
    if (existing) {
      summary.push(`${body.connector} connection ${existing.id} kept`);
      continue;
    }
    const created = await fetch(`${options.syncUrl}/v1/connections`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...body, pollIntervalSeconds: 5, lookbackSeconds: 30 }),
    });
    if (!created.ok)
      throw new Error(`POST /v1/connections answered ${created.status}: ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    summary.push(`${body.connector} connection ${id} ${what}`);
  }
  return { summary };
}
