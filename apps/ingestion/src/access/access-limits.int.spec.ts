/**
 * Limits of edge access against the real stack, ingestion started in-process: the cap on API keys and OAuth clients
 * per workspace, and the throttle on failed authentication (admin token, client secret and API key guesses) per
 * client address. Other client addresses are real: loopback answers on all of 127.0.0.0/8.
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
  type AnswerFrom,
} from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';

const run = uniqueId('lim');
const adminToken = randomBytes(32).toString('base64url');
const FAILURE_LIMIT = 5;
const FAILURE_WINDOW_SECONDS = 60;
const config = loadIngestionConfig(
  testServiceEnv('ingestion', run, {
    ADMIN_TOKEN: adminToken,
    AUTH_FAILURE_LIMIT: String(FAILURE_LIMIT),
    AUTH_FAILURE_WINDOW_SECONDS: String(FAILURE_WINDOW_SECONDS),
    MAX_API_KEYS_PER_WORKSPACE: '3',
    MAX_OAUTH_CLIENTS_PER_WORKSPACE: '2',
  }),
);
const workspace = `ws_${run}`;
const otherWorkspace = `ws_${run}_other`;
let service: RunningService;

const bearer = (credential: string) => `Bearer ${credential}`;
const basic = (user: string, password = '') =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const operator = bearer(adminToken);

/** A request from `address` (127.0.0.1 is the tests' own). */
function call(address: string, method: string, path: string, options: CallOptions = {}): Promise<AnswerFrom> {
  const { headers, body } = callParts(options);
  return requestFrom(address, `${service.url}${path}`, { method, headers, body });
}

const createKey = (inWorkspace = workspace) =>
  call('127.0.0.1', 'POST', `/v1/admin/workspaces/${inWorkspace}/keys`, {
    auth: operator,
    json: { name: 'website', scopes: ['track:write'] },
  });
const createClient = () =>
  call('127.0.0.1', 'POST', `/v1/admin/workspaces/${workspace}/clients`, {
    auth: operator,
    json: { name: 'backend', scopes: ['track:write'] },
  });
const track = (address: string, auth: string) =>
  call(address, 'POST', '/v1/track', { auth, json: { userId: 'ada', event: 'Pricing Page Viewed' } });
const forgedKey = () => `trib_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** What a throttled address is answered. */
function expectThrottled(answer: AnswerFrom): void {
  expect(answer.status).toBe(429);
  expect(answer.headers['retry-after']).toBe(String(FAILURE_WINDOW_SECONDS / FAILURE_LIMIT));
  expect(answer.body).toMatchObject({
    error: 'rate_limited',
    allowance: 'failed-authentications',
    problems: [
      { field: 'authorization', reason: expect.stringContaining('too many failed authentications') },
    ],
  });
}

beforeAll(async () => {
  service = await startService(IngestionModule.forRoot(config), config);
  for (const id of [workspace, otherWorkspace]) {
    const res = await call('127.0.0.1', 'POST', '/v1/admin/workspaces', {
      auth: operator,
      json: { id, name: id },
    });
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await service?.close();
  await stopTelemetry();
});

describe('credentials per workspace', () => {
  it('caps active API keys (409 naming the cap); other workspaces are unaffected; revoking one makes room', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push(await createKey());
    expect(created.map((res) => res.status)).toEqual([201, 201, 201]);

    const beyond = await createKey();
    expect(beyond.status).toBe(409);
    expect(beyond.body).toMatchObject({
      error: 'limit_reached',
      problems: [
        {
          field: 'workspaceId',
          reason: 'this workspace has 3 active API keys, the most allowed (3); revoke one first',
        },
      ],
    });
    expect((await createKey(otherWorkspace)).status).toBe(201);

    const revoked = await call(
      '127.0.0.1',
      'DELETE',
      `/v1/admin/workspaces/${workspace}/keys/${String(created[0]?.body['keyId'])}`,
      { auth: operator },
    );
    expect(revoked.status).toBe(204);
    expect((await createKey()).status).toBe(201);
    expect((await createKey()).status).toBe(409);
  });

  it('caps active OAuth clients the same way', async () => {
    expect([(await createClient()).status, (await createClient()).status]).toEqual([201, 201]);
    const beyond = await createClient();
    expect(beyond.status).toBe(409);
    expect(beyond.body['reason']).toBe(
      'this workspace has 2 active OAuth clients, the most allowed (2); revoke one first',
    );
  });
});

describe('failed authentication', () => {
  it('admin token guesses: after the limit the address gets 429 even with the real token; the operator elsewhere does not', async () => {
    const guesses = [];
    for (let i = 0; i < FAILURE_LIMIT; i++) {
      guesses.push(
        (await call('127.0.0.2', 'GET', '/v1/admin/workspaces', { auth: bearer(`guess-${i}`) })).status,
      );
    }
    expect(guesses).toEqual(Array(FAILURE_LIMIT).fill(401));
    expectThrottled(await call('127.0.0.2', 'GET', '/v1/admin/workspaces', { auth: operator }));
    expect((await call('127.0.0.3', 'GET', '/v1/admin/workspaces', { auth: operator })).status).toBe(200);
    expect((await call('127.0.0.1', 'GET', '/v1/admin/workspaces', { auth: operator })).status).toBe(200);
  });

  it('client secret guesses at the token endpoint: invalid_client, then 429; the client at another address gets its token', async () => {
    const other = await call('127.0.0.1', 'POST', `/v1/admin/workspaces/${otherWorkspace}/clients`, {
      auth: operator,
      json: { name: 'backend', scopes: ['track:write'] },
    });
    expect(other.status).toBe(201);
    const clientId = String(other.body['clientId']);
    const clientSecret = String(other.body['clientSecret']);
    const tokenFrom = (address: string, secret: string) =>
      call(address, 'POST', '/v1/oauth/token', {
        auth: basic(clientId, secret),
        form: { grant_type: 'client_credentials' },
      });

    const answers = [];
    for (let i = 0; i < FAILURE_LIMIT; i++) answers.push(await tokenFrom('127.0.0.4', `wrong-${i}`));
    expect(answers.map((a) => [a.status, a.body['error']])).toEqual(
      Array(FAILURE_LIMIT).fill([401, 'invalid_client']),
    );
    expectThrottled(await tokenFrom('127.0.0.4', clientSecret));
    const issued = await tokenFrom('127.0.0.5', clientSecret);
    expect(issued.status).toBe(200);
    expect(issued.body['token_type']).toBe('Bearer');
  });

  it('API key guesses on the tracking API are throttled; a revoked key retried over and over is not', async () => {
    const key = await createKey(otherWorkspace);
    const apiKey = String(key.body['apiKey']);
    const spare = await createKey(otherWorkspace);
    const revoked = await call(
      '127.0.0.1',
      'DELETE',
      `/v1/admin/workspaces/${otherWorkspace}/keys/${String(spare.body['keyId'])}`,
      { auth: operator },
    );
    expect(revoked.status).toBe(204);

    // A host still running an integration with a revoked key, next to one with a valid key.
    const retries = [];
    for (let i = 0; i < 3 * FAILURE_LIMIT; i++) {
      retries.push((await track('127.0.0.6', bearer(String(spare.body['apiKey'])))).status);
    }
    expect(retries).toEqual(Array(3 * FAILURE_LIMIT).fill(401));
    expect((await track('127.0.0.6', bearer(apiKey))).status).toBe(200);

    // Distinct guesses are counted: the revoked key was one, so the limit is reached one guess earlier.
    const guesses = [];
    for (let i = 1; i < FAILURE_LIMIT; i++)
      guesses.push((await track('127.0.0.6', bearer(forgedKey()))).status);
    expect(guesses).toEqual(Array(FAILURE_LIMIT - 1).fill(401));
    expectThrottled(await track('127.0.0.6', bearer(apiKey)));
    expect((await track('127.0.0.7', bearer(apiKey))).status).toBe(200);
  });
});
