/**
 * The edge's keys and scopes honoured behind it, on the real stack with ingestion and reporting in this process:
 * credentials are managed through ingestion's admin API only, reach reporting through `access.credentials` (never
 * ingestion's database or HTTP API), and reporting applies the same scopes, revocations and OAuth2 tokens.
 */
import { randomBytes } from 'node:crypto';
import { startService, type RunningService } from '@tributary/messaging';
import { stopTelemetry } from '@tributary/observability';
import { testServiceEnv, uniqueId, waitFor } from '@tributary/testing';
import { IngestionModule, loadIngestionConfig } from '@tributary/ingestion';
import { ReportingModule, loadReportingConfig } from '@tributary/reporting';

const run = uniqueId('sha');
const adminToken = randomBytes(32).toString('base64url');
const workspace = `ws_${run}`;
const bootKey = `boot-${run}`;
/** How long a change made at the edge may take to reach reporting (Kafka round trip, with CI slack). */
const PROPAGATION_BOUND_MS = 10_000;
const env = (service: string, extra: Record<string, string> = {}) =>
  testServiceEnv(service, run, { WRITE_KEYS: `${bootKey}:ws_boot_${run}`, ...extra });

let ingestion: RunningService;
let reporting: RunningService | undefined;

const bearer = (credential: string) => `Bearer ${credential}`;
const operator = bearer(adminToken);

async function call<T = Record<string, unknown>>(
  service: RunningService,
  method: string,
  path: string,
  options: { auth?: string; json?: unknown; form?: Record<string, string> } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (options.auth) headers['authorization'] = options.auth;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const res = await fetch(`${service.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

function reportingService(): RunningService {
  if (!reporting) throw new Error('reporting is not running');
  return reporting;
}

const eventCounts = (auth: string) =>
  call<{ workspaceId: string }>(reportingService(), 'GET', '/v1/reports/event-counts', { auth });

async function createKey(scopes: string[]): Promise<{ keyId: string; apiKey: string }> {
  const res = await call<{ keyId: string; apiKey: string }>(
    ingestion,
    'POST',
    `/v1/admin/workspaces/${workspace}/keys`,
    { auth: operator, json: { name: `reporting ${scopes.join(',')}`, scopes } },
  );
  expect(res.status).toBe(201);
  return res.body;
}

/** Waits until reporting answers `status` for `auth`; returns how long that took. */
async function reportingAnswers(auth: string, status: number): Promise<number> {
  const since = Date.now();
  await waitFor(
    `reporting to answer ${status}`,
    async () => {
      const res = await eventCounts(auth);
      if (res.status !== status) throw new Error(`answered ${res.status}`);
      return true;
    },
    { timeoutMs: PROPAGATION_BOUND_MS, intervalMs: 100 },
  );
  return Date.now() - since;
}

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
  reporting = await startService(ReportingModule.forRoot(reportingConfig), reportingConfig);
});

afterAll(async () => {
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
