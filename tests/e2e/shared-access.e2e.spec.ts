/**
 * The edge's keys and scopes honoured behind it, on the real stack with ingestion, reporting and leads in this
 * process: credentials are managed through ingestion's admin API only, reach reporting and leads through
 * `access.credentials` (never ingestion's database or HTTP API), and both apply the same scopes, workspaces,
 * revocations and (reporting) OAuth2 tokens, and the same limits (requests per credential, failed authentication
 * per client address).
 */
import { randomBytes } from 'node:crypto';
import { startService, type RunningService } from '@tributary/runtime';
import { stopTelemetry } from '@tributary/observability';
import {
  callParts,
  requestFrom,
  type CallOptions,
  testServiceEnv,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';
import { ReportingModule, loadReportingConfig } from '@tributary/reporting';
import { LeadsModule, loadLeadsConfig } from '@tributary/leads';

const run = uniqueId('sha');
const adminToken = randomBytes(32).toString('base64url');
const workspace = `ws_${run}`;
/** A second tenant: its keys must never see the first one's contacts. */
const otherWorkspace = `ws_${run}_other`;
const bootKey = `boot-${run}`;
/** How long a change made at the edge may take to reach reporting or leads (Kafka round trip, with CI slack). */
const PROPAGATION_BOUND_MS = 10_000;
const env = (service: string, extra: Record<string, string> = {}) =>
  testServiceEnv(service, run, { WRITE_KEYS: `${bootKey}:ws_boot_${run}`, ...extra });

let ingestion: RunningService;
let reporting: RunningService | undefined;
let leads: RunningService | undefined;

const bearer = (credential: string) => `Bearer ${credential}`;
const operator = bearer(adminToken);

async function call<T = Record<string, unknown>>(
  service: RunningService,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<{ status: number; body: T }> {
  const { headers, body } = callParts(options);
  const res = await fetch(`${service.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

function reportingService(): RunningService {
  if (!reporting) throw new Error('reporting is not running');
  return reporting;
}

function leadsService(): RunningService {
  if (!leads) throw new Error('leads is not running');
  return leads;
}

const eventCounts = (auth: string) =>
  call<{ workspaceId: string }>(reportingService(), 'GET', '/v1/reports/event-counts', { auth });

interface ContactView {
  contactId: string;
  workspaceId: string;
  attributes: Record<string, unknown>;
}

const contact = (auth: string, key: string) =>
  call<ContactView>(leadsService(), 'GET', `/v1/contacts/${encodeURIComponent(key)}`, { auth });

async function createKey(
  scopes: string[],
  inWorkspace = workspace,
): Promise<{ keyId: string; apiKey: string }> {
  const res = await call<{ keyId: string; apiKey: string }>(
    ingestion,
    'POST',
    `/v1/admin/workspaces/${inWorkspace}/keys`,
    { auth: operator, json: { name: `e2e ${scopes.join(',')}`, scopes } },
  );
  expect(res.status).toBe(201);
  return res.body;
}

/** Waits until `request` is answered with `status`; returns how long that took. */
async function answers(
  what: string,
  request: () => Promise<{ status: number }>,
  status: number,
): Promise<number> {
  const since = Date.now();
  await waitFor(
    `${what} to answer ${status}`,
    async () => {
      const res = await request();
      if (res.status !== status) throw new Error(`answered ${res.status}`);
      return true;
    },
    { timeoutMs: PROPAGATION_BOUND_MS, intervalMs: 100 },
  );
  return Date.now() - since;
}

const reportingAnswers = (auth: string, status: number) =>
  answers('reporting', () => eventCounts(auth), status);

let keyBeforeReporting: { keyId: string; apiKey: string };

beforeAll(async () => {
  const ingestionConfig = loadIngestionConfig(env('ingestion', { ADMIN_TOKEN: adminToken }));
  ingestion = await startService(IngestionModule.forRoot(ingestionConfig), ingestionConfig);
  const created = await call(ingestion, 'POST', '/v1/admin/workspaces', {
    auth: operator,
    json: { id: workspace, name: 'Acme reporting' },
  });
  expect(created.status).toBe(201);
  // Created before reporting starts: reporting must know it from its first request on.
  keyBeforeReporting = await createKey(['reports:read']);
  const reportingConfig = loadReportingConfig(env('reporting'));
  const leadsConfig = loadLeadsConfig(env('leads'));
  // Side by side to keep start-up short; each is assigned as soon as it runs so afterAll closes it either way.
  await Promise.all([
    startService(ReportingModule.forRoot(reportingConfig), reportingConfig).then((s) => (reporting = s)),
    startService(LeadsModule.forRoot(leadsConfig), leadsConfig).then((s) => (leads = s)),
  ]);
});

afterAll(async () => {
  await leads?.close();
  await reporting?.close();
  await ingestion?.close();
  await stopTelemetry();
});

describe('shared access: reporting honours the edge’s credentials', () => {
  it('a key created before reporting started works on its first request: start-up waits for the table', async () => {
    const res = await eventCounts(bearer(keyBeforeReporting.apiKey));
    expect(res.status).toBe(200);
    expect(res.body.workspaceId).toBe(workspace);
    const ready = await call(reportingService(), 'GET', '/health/ready');
    expect(ready.status).toBe(200);
  });

  it('a key with reports:read gets 200 in its own workspace; one without the scope 403; bootstrap keys keep all scopes', async () => {
    const reader = await createKey(['reports:read']);
    await reportingAnswers(bearer(reader.apiKey), 200);
    const res = await eventCounts(bearer(reader.apiKey));
    expect(res.body.workspaceId).toBe(workspace);

    const tracker = await createKey(['track:write']);
    await reportingAnswers(bearer(tracker.apiKey), 403);
    expect((await eventCounts(bearer(tracker.apiKey))).body).toMatchObject({
      error: 'forbidden',
      reason: 'missing scope: reports:read',
    });

    const forged = `trib_${reader.keyId}_${randomBytes(32).toString('base64url')}`;
    expect((await eventCounts(bearer(forged))).status).toBe(401);
    expect((await eventCounts(`Basic ${Buffer.from(`${bootKey}:`).toString('base64')}`)).status).toBe(200);
  });

  it('a key revoked through ingestion’s admin API is refused by reporting within the propagation bound', async () => {
    const key = await createKey(['reports:read']);
    await reportingAnswers(bearer(key.apiKey), 200);
    const revoked = await call(ingestion, 'DELETE', `/v1/admin/workspaces/${workspace}/keys/${key.keyId}`, {
      auth: operator,
    });
    expect(revoked.status).toBe(204);
    expect(await reportingAnswers(bearer(key.apiKey), 401)).toBeLessThan(PROPAGATION_BOUND_MS);
  });

  it('an OAuth2 client-credentials token from ingestion is accepted by reporting, and refused once the client is revoked', async () => {
    const client = await call<{ clientId: string; clientSecret: string }>(
      ingestion,
      'POST',
      `/v1/admin/workspaces/${workspace}/clients`,
      { auth: operator, json: { name: 'dashboards', scopes: ['reports:read', 'track:write'] } },
    );
    expect(client.status).toBe(201);
    const issued = await call<{ access_token: string; scope: string }>(ingestion, 'POST', '/v1/oauth/token', {
      form: {
        grant_type: 'client_credentials',
        client_id: client.body.clientId,
        client_secret: client.body.clientSecret,
        scope: 'reports:read',
      },
    });
    expect(issued.status).toBe(200);
    await reportingAnswers(bearer(issued.body.access_token), 200);
    expect((await eventCounts(bearer(issued.body.access_token))).body.workspaceId).toBe(workspace);

    // A token without reports:read is authenticated but not allowed.
    const trackOnly = await call<{ access_token: string }>(ingestion, 'POST', '/v1/oauth/token', {
      form: {
        grant_type: 'client_credentials',
        client_id: client.body.clientId,
        client_secret: client.body.clientSecret,
        scope: 'track:write',
      },
    });
    expect((await eventCounts(bearer(trackOnly.body.access_token))).status).toBe(403);

    const revoked = await call(
      ingestion,
      'DELETE',
      `/v1/admin/workspaces/${workspace}/clients/${client.body.clientId}`,
      { auth: operator },
    );
    expect(revoked.status).toBe(204);
    await reportingAnswers(bearer(issued.body.access_token), 401);
  });

  it('signing keys: a rotated-out key’s tokens still verify at reporting; once the key is removed they do not', async () => {
    const client = await call<{ clientId: string; clientSecret: string }>(
      ingestion,
      'POST',
      `/v1/admin/workspaces/${workspace}/clients`,
      { auth: operator, json: { name: 'bi tool', scopes: ['reports:read'] } },
    );
    const token = async () =>
      (
        await call<{ access_token: string }>(ingestion, 'POST', '/v1/oauth/token', {
          form: {
            grant_type: 'client_credentials',
            client_id: client.body.clientId,
            client_secret: client.body.clientSecret,
          },
        })
      ).body.access_token;
    const before = await token();
    await reportingAnswers(bearer(before), 200);
    const oldKid = JSON.parse(Buffer.from(before.split('.')[0] ?? '', 'base64url').toString()).kid as string;

    const rotation = await call<{ kid: string }>(ingestion, 'POST', '/v1/admin/signing-keys/rotate', {
      auth: operator,
    });
    expect(rotation.status).toBe(200);
    const after = await token();
    await reportingAnswers(bearer(after), 200);
    expect((await eventCounts(bearer(before))).status).toBe(200);

    const removed = await call(ingestion, 'DELETE', `/v1/admin/signing-keys/${oldKid}`, { auth: operator });
    expect(removed.status).toBe(204);
    await reportingAnswers(bearer(before), 401);
    expect((await eventCounts(bearer(after))).status).toBe(200);
  });
});

describe('shared access: leads honours the edge’s credentials', () => {
  // Offline enrichment knows this company domain, so the contact is a full lead without any provider.
  const email = `ada.${run}@brightlane.example`;
  let reader: { keyId: string; apiKey: string };
  let captured: ContactView;

  beforeAll(async () => {
    const other = await call(ingestion, 'POST', '/v1/admin/workspaces', {
      auth: operator,
      json: { id: otherWorkspace, name: 'Globex' },
    });
    expect(other.status).toBe(201);
    const formWriter = await createKey(['leads:write']);
    const lead = await call(ingestion, 'POST', '/v1/leads', {
      auth: bearer(formWriter.apiKey),
      json: {
        email,
        firstName: 'Ada',
        company: 'Brightlane Analytics',
        consents: { email_marketing: true },
        formId: 'demo-request',
        // Top level: leads reads a form's own fields from the raw body (not from `fields`).
        title: 'VP Marketing',
      },
    });
    expect(lead.status).toBe(200);
    reader = await createKey(['contacts:read']);
    captured = await waitFor(
      'leads to show the captured lead to a contacts:read key',
      async () => {
        const res = await contact(bearer(reader.apiKey), `email:${email}`);
        return res.status === 200 ? res.body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  it('a contacts:read key from the admin API reads a contact of its own workspace', () => {
    expect(captured.workspaceId).toBe(workspace);
    expect(captured.contactId.startsWith(`${workspace}:`)).toBe(true);
    // The title from the form; the country from offline enrichment of the company domain.
    expect(captured.attributes).toMatchObject({ email, title: 'VP Marketing', country: 'DE' });
  });

  it('a key without contacts:read is refused with 403', async () => {
    const formWriter = await createKey(['leads:write', 'reports:read']);
    await answers('leads', () => contact(bearer(formWriter.apiKey), `email:${email}`), 403);
    expect((await contact(bearer(formWriter.apiKey), `email:${email}`)).body).toMatchObject({
      error: 'forbidden',
      reason: 'missing scope: contacts:read',
    });
  });

  it('a contacts:read key of another workspace cannot see the contact (404), by email or by contact id', async () => {
    const outsider = await createKey(['contacts:read'], otherWorkspace);
    // 404, not 401: leads knows the key (it is authenticated) and still finds nothing in its workspace.
    await answers('leads', () => contact(bearer(outsider.apiKey), `email:${email}`), 404);
    expect((await contact(bearer(outsider.apiKey), captured.contactId)).status).toBe(404);
  });

  it('replacing the scoring model needs scoring:admin', async () => {
    const model = {
      mqlThreshold: 40,
      engagementHalfLifeDays: 14,
      fit: [{ id: 'senior-title', attribute: 'title', matches: '\\b(vp|head|chief)\\b', points: 20 }],
      engagement: [{ id: 'form-submitted', when: { callType: 'form' }, points: 10 }],
    };
    const putModel = (auth: string) =>
      call<{ version: number }>(leadsService(), 'PUT', '/v1/scoring-model', { auth, json: model });
    const analyst = await createKey(['contacts:read', 'routing:admin']);
    await answers('leads', () => putModel(bearer(analyst.apiKey)), 403);
    expect((await putModel(bearer(analyst.apiKey))).body).toMatchObject({
      error: 'forbidden',
      reason: 'missing scope: scoring:admin',
    });

    const modeller = await createKey(['scoring:admin']);
    await answers('leads', () => putModel(bearer(modeller.apiKey)), 200);
    const current = await call<{ version: number; model: { mqlThreshold: number } }>(
      leadsService(),
      'GET',
      '/v1/scoring-model',
      { auth: bearer(modeller.apiKey) },
    );
    expect(current.body.model.mqlThreshold).toBe(40);
  });

  it('a key revoked through ingestion’s admin API is refused by leads within the propagation bound', async () => {
    const key = await createKey(['contacts:read']);
    await answers('leads', () => contact(bearer(key.apiKey), `email:${email}`), 200);
    const revoked = await call(ingestion, 'DELETE', `/v1/admin/workspaces/${workspace}/keys/${key.keyId}`, {
      auth: operator,
    });
    expect(revoked.status).toBe(204);
    const took = await answers('leads', () => contact(bearer(key.apiKey), `email:${email}`), 401);
    expect(took).toBeLessThan(PROPAGATION_BOUND_MS);
    // Revoking one key leaves the workspace's other keys alone.
    expect((await contact(bearer(reader.apiKey), `email:${email}`)).status).toBe(200);
  });
});

describe('shared access: reporting and leads apply the edge’s limits', () => {
  const limitedWorkspace = `ws_${run}_limits`;
  let reader: { keyId: string; apiKey: string };

  beforeAll(async () => {
    const created = await call(ingestion, 'POST', '/v1/admin/workspaces', {
      auth: operator,
      json: { id: limitedWorkspace, name: 'Initech' },
    });
    expect(created.status).toBe(201);
    reader = await createKey(['reports:read', 'contacts:read'], limitedWorkspace);
    await reportingAnswers(bearer(reader.apiKey), 200);
    await answers('leads', () => contact(bearer(reader.apiKey), 'email:nobody@example.com'), 404);
  });

  it.each([
    ['reporting', () => eventCounts(bearer(reader.apiKey))],
    ['leads', () => contact(bearer(reader.apiKey), 'email:nobody@example.com')],
  ])('%s answers 429 once a credential spent its requests (default burst 100)', async (_, request) => {
    let admitted = 0;
    let last: { status: number; body: unknown } | undefined;
    // The burst plus what refills (50/s) while the loop runs.
    for (let i = 0; i < 300; i++) {
      last = await request();
      if (last.status === 429) break;
      admitted += 1;
    }
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(last?.status).toBe(429);
    expect(last?.body).toMatchObject({ error: 'rate_limited', allowance: 'credential-requests' });
  });

  it('wrong keys from one address are throttled at reporting and leads; a key holder at another address is not', async () => {
    const other = await createKey(['reports:read', 'contacts:read'], limitedWorkspace);
    await reportingAnswers(bearer(other.apiKey), 200);
    await answers('leads', () => contact(bearer(other.apiKey), 'email:nobody@example.com'), 404);
    for (const [service, path, answer] of [
      [reportingService(), '/v1/reports/event-counts', 200],
      [leadsService(), '/v1/contacts/email%3Anobody%40example.com', 404],
    ] as const) {
      const from = (address: string, credential: string) =>
        requestFrom(address, `${service.url}${path}`, { headers: { authorization: bearer(credential) } });
      const guesses = [];
      // AUTH_FAILURE_LIMIT's default: 20 distinct wrong keys.
      for (let i = 0; i < 20; i++) {
        guesses.push(
          (await from('127.0.0.2', `trib_${reader.keyId}_${randomBytes(32).toString('base64url')}`)).status,
        );
      }
      expect(guesses).toEqual(Array(20).fill(401));
      const throttled = await from('127.0.0.2', other.apiKey);
      expect(throttled.status).toBe(429);
      expect(throttled.body).toMatchObject({ error: 'rate_limited', allowance: 'failed-authentications' });
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await from('127.0.0.3', other.apiKey)).status).toBe(answer);
    }
  });
});
