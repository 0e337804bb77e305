/**
 * Edge access against the real stack, ingestion started in-process: workspaces, API keys and OAuth clients managed
 * through the admin API, used on `POST /v1/track`; revocation, rotation, signing-key removal, rate limits,
 * cross-workspace refusals, request ids, and the audit.log entries (decoded through the registry).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mongoose, { type Connection } from 'mongoose';
import type { Kafka } from 'kafkajs';
import { Topics, type AuditEntry, type TrackingEvent } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger } from '@tributary/observability';
import {
  callParts,
  readTopicUntil,
  type CallOptions,
  testServiceEnv,
  uniqueId,
  waitFor,
} from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';

const run = uniqueId('acc');
const adminToken = randomBytes(32).toString('base64url');
const CACHE_TTL_MS = 1_000;
const BURST = 40;
const config = loadIngestionConfig(
  testServiceEnv('ingestion', run, {
    ADMIN_TOKEN: adminToken,
    ACCESS_CACHE_TTL_MS: String(CACHE_TTL_MS),
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_PER_SECOND: '4',
    WRITE_KEYS: `boot-${run}:ws_boot_${run}`,
  }),
);
const workspaceA = `ws_${run}_a`;
const workspaceB = `ws_${run}_b`;
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
let store: Connection;

interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const { headers, body } = callParts(options);
  const res = await fetch(`${service.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
}

const bearer = (credential: string) => `Bearer ${credential}`;
const basic = (user: string, password = '') =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const operator = bearer(adminToken);

const track = (auth: string, userId = 'ada') =>
  call<{ success: boolean; eventId: string }>('POST', '/v1/track', {
    auth,
    json: { userId, event: 'Pricing Page Viewed' },
  });

interface CreatedKey {
  keyId: string;
  apiKey: string;
  scopes: string[];
}

async function createKey(workspaceId: string, scopes: string[], auth = operator): Promise<CreatedKey> {
  const res = await call<CreatedKey>('POST', `/v1/admin/workspaces/${workspaceId}/keys`, {
    auth,
    json: { name: `key for ${scopes.join(',')}`, scopes },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function token(clientId: string, clientSecret: string, scope?: string) {
  return call<{
    access_token: string;
    token_type: string;
    expires_in: number;
    scope: string;
    error?: string;
  }>('POST', '/v1/oauth/token', {
    auth: basic(clientId, clientSecret),
    form:
      scope === undefined
        ? { grant_type: 'client_credentials' }
        : { grant_type: 'client_credentials', scope },
  });
}

/** Audit entries of a workspace matching `match`, read from the topic and decoded through the registry. */
async function auditEntry(workspaceId: string, match: (entry: AuditEntry) => boolean): Promise<AuditEntry> {
  let found: AuditEntry | undefined;
  await readTopicUntil(kafka, Topics.AuditLog, async (records) => {
    for (const record of records.slice(-50)) {
      if (record.key?.toString() !== workspaceId) continue;
      const entry = (await registry.decode(record.value)) as AuditEntry;
      if (match(entry)) found = entry;
    }
    return found !== undefined;
  });
  if (!found) throw new Error('no matching audit entry');
  return found;
}

beforeAll(async () => {
  service = await startService(IngestionModule.forRoot(config), config);
  kafka = createKafka(`access-${run}`, config.KAFKA_BROKERS, createLogger('access-test', 'fatal'));
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
  store = await mongoose.createConnection(config.MONGO_URL, { dbName: config.MONGO_DB }).asPromise();
  for (const id of [workspaceA, workspaceB]) {
    const res = await call('POST', '/v1/admin/workspaces', {
      auth: operator,
      json: { id, name: `Acme ${id}` },
    });
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await store?.close();
  await service?.close();
});

describe('API keys', () => {
  it('a key created through the admin API tracks into its own workspace; the key is shown once', async () => {
    const key = await createKey(workspaceA, ['track:write']);
    expect(key.apiKey).toMatch(new RegExp(`^trib_${key.keyId}_`));

    const res = await track(bearer(key.apiKey), `lead-${run}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe(String(BURST));
    expect(Number(res.headers.get('ratelimit-remaining'))).toBe(BURST - 1);
    expect(res.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    // Segment SDKs send the key as the Basic user name: same key, same result.
    expect((await track(basic(key.apiKey), `lead-${run}`)).status).toBe(200);

    const listed = await call<Array<Record<string, unknown>>>(
      'GET',
      `/v1/admin/workspaces/${workspaceA}/keys`,
      {
        auth: operator,
      },
    );
    expect(listed.status).toBe(200);
    expect(listed.body.find((k) => k['keyId'] === key.keyId)).toMatchObject({
      status: 'active',
      scopes: key.scopes,
    });
    const secret = key.apiKey.slice(`trib_${key.keyId}_`.length);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(JSON.stringify(listed.body)).not.toMatch(/hash/i);

    // The event carries the key's workspace: the workspace always comes from the credential.
    await readTopicUntil(kafka, Topics.TrackingEvents, async (records) => {
      for (const record of records) {
        if (record.key?.toString() !== `lead-${run}`) continue;
        const event = (await registry.decode(record.value)) as TrackingEvent;
        if (event.metadata.eventId === res.body.eventId) return event.metadata.workspaceId === workspaceA;
      }
      return false;
    });
  });

  it('a key without track:write gets 403 on track; an unknown key 401', async () => {
    const key = await createKey(workspaceA, ['leads:write']);
    const res = await track(bearer(key.apiKey));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'forbidden', reason: 'missing scope: track:write' });
    const forged = `trib_${key.keyId}_${randomBytes(32).toString('base64url')}`;
    expect((await track(bearer(forged))).status).toBe(401);
  });

  it('a key revoked through the admin API is refused at once', async () => {
    const key = await createKey(workspaceA, ['track:write']);
    expect((await track(bearer(key.apiKey))).status).toBe(200);
    const revoked = await call('DELETE', `/v1/admin/workspaces/${workspaceA}/keys/${key.keyId}`, {
      auth: operator,
    });
    expect(revoked.status).toBe(204);
    expect((await track(bearer(key.apiKey))).status).toBe(401);
  });

  it('a key revoked by another replica (straight in the store) is refused within the cache bound', async () => {
    const key = await createKey(workspaceA, ['track:write']);
    expect((await track(bearer(key.apiKey))).status).toBe(200);
    const revokedAt = Date.now();
    await store
      .collection('api_keys')
      .updateOne({ _id: key.keyId as never }, { $set: { revokedAt: new Date() } });
    await waitFor('revoked key refused', async () => (await track(bearer(key.apiKey))).status === 401, {
      timeoutMs: CACHE_TTL_MS + 2_000,
      intervalMs: 100,
    });
    expect(Date.now() - revokedAt).toBeLessThan(CACHE_TTL_MS + 1_500);
  });

  it('after a rotation the old secret works during the grace period, then fails; the new one keeps working', async () => {
    const key = await createKey(workspaceA, ['track:write']);
    const rotated = await call<CreatedKey & { previousSecretValidUntil: string }>(
      'POST',
      `/v1/admin/workspaces/${workspaceA}/keys/${key.keyId}/rotate`,
      { auth: operator, json: { graceSeconds: 2 } },
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.keyId).toBe(key.keyId);
    expect(rotated.body.apiKey).not.toBe(key.apiKey);
    const graceEnd = Date.parse(rotated.body.previousSecretValidUntil);

    expect((await track(bearer(key.apiKey))).status).toBe(200);
    expect((await track(bearer(rotated.body.apiKey))).status).toBe(200);
    await sleep(Math.max(0, graceEnd - Date.now()) + 100);
    expect((await track(bearer(key.apiKey))).status).toBe(401);
    expect((await track(bearer(rotated.body.apiKey))).status).toBe(200);
  });
});

describe('OAuth2 client credentials', () => {
  let client: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    const res = await call<{ clientId: string; clientSecret: string }>(
      'POST',
      `/v1/admin/workspaces/${workspaceA}/clients`,
      { auth: operator, json: { name: 'backend', scopes: ['track:write', 'leads:write'] } },
    );
    expect(res.status).toBe(201);
    client = res.body;
  });

  it('a token for a subset of the client’s scopes tracks into the client’s workspace', async () => {
    const issued = await token(client.clientId, client.clientSecret, 'track:write');
    expect(issued.status).toBe(200);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    expect(issued.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'track:write' });
    expect((await track(bearer(issued.body.access_token))).status).toBe(200);

    // Form-body client authentication works too; scopes beyond the client's are refused.
    const viaBody = await call('POST', '/v1/oauth/token', {
      form: {
        grant_type: 'client_credentials',
        client_id: client.clientId,
        client_secret: client.clientSecret,
      },
    });
    expect(viaBody.status).toBe(200);
    expect(viaBody.body['scope']).toBe('track:write leads:write');
    expect((await token(client.clientId, client.clientSecret, 'track:write admin')).body.error).toBe(
      'invalid_scope',
    );
    const wrong = await token(client.clientId, 'not-the-secret');
    expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_client']);
  });

  it('a token from a removed signing key is refused; one from a rotated-out key still verifies', async () => {
    const before = await token(client.clientId, client.clientSecret, 'track:write');
    const oldKid = JSON.parse(
      Buffer.from(before.body.access_token.split('.')[0] ?? '', 'base64url').toString(),
    ).kid as string;
    const jwks = await call<{ keys: Array<{ kid: string; d?: string }> }>('GET', '/.well-known/jwks.json');
    expect(jwks.body.keys.map((k) => k.kid)).toContain(oldKid);
    expect(jwks.body.keys.every((k) => k.d === undefined)).toBe(true);

    const rotation = await call<{ kid: string }>('POST', '/v1/admin/signing-keys/rotate', { auth: operator });
    expect(rotation.status).toBe(200);
    expect((await track(bearer(before.body.access_token))).status).toBe(200);
    const after = await token(client.clientId, client.clientSecret, 'track:write');

    expect((await call('DELETE', `/v1/admin/signing-keys/${oldKid}`, { auth: operator })).status).toBe(204);
    expect((await track(bearer(before.body.access_token))).status).toBe(401);
    expect((await track(bearer(after.body.access_token))).status).toBe(200);
    const published = await call<{ keys: Array<{ kid: string }> }>('GET', '/.well-known/jwks.json');
    expect(published.body.keys.map((k) => k.kid)).toEqual([rotation.body.kid]);
  });
});

describe('governance', () => {
  it('answers 429 with Retry-After and RateLimit headers once a credential spent its burst', async () => {
    const key = await createKey(workspaceA, ['track:write']);
    let last: Reply | undefined;
    let admitted = 0;
    // A token bucket: the burst, plus what refills (4/s) while the loop runs.
    for (let i = 0; i < 2 * BURST; i++) {
      last = await track(bearer(key.apiKey));
      if (last.status === 429) break;
      expect(last.status).toBe(200);
      admitted += 1;
    }
    expect(admitted).toBeGreaterThanOrEqual(BURST);
    expect(last?.status).toBe(429);
    expect(last?.body).toMatchObject({ error: 'rate_limited' });
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last?.headers.get('ratelimit-remaining')).toBe('0');
    expect(last?.headers.get('ratelimit-limit')).toBe(String(BURST));
    // Another credential of the same workspace is not affected.
    expect((await track(bearer((await createKey(workspaceA, ['track:write'])).apiKey))).status).toBe(200);
  });

  it('a workspace admin key manages its own workspace only', async () => {
    const adminA = await createKey(workspaceA, ['admin']);
    const keyB = await createKey(workspaceB, ['track:write']);

    const own = await createKey(workspaceA, ['track:write'], bearer(adminA.apiKey));
    expect(own.keyId).toBeDefined();

    const intoB = await call('POST', `/v1/admin/workspaces/${workspaceB}/keys`, {
      auth: bearer(adminA.apiKey),
      json: { name: 'sneaky', scopes: ['track:write'] },
    });
    expect(intoB.status).toBe(403);
    expect(
      (
        await call('DELETE', `/v1/admin/workspaces/${workspaceB}/keys/${keyB.keyId}`, {
          auth: bearer(adminA.apiKey),
        })
      ).status,
    ).toBe(403);
    // B's key id under A's own path is simply not found: keys are looked up within the workspace.
    expect(
      (
        await call('DELETE', `/v1/admin/workspaces/${workspaceA}/keys/${keyB.keyId}`, {
          auth: bearer(adminA.apiKey),
        })
      ).status,
    ).toBe(404);
    expect(
      (await call('GET', `/v1/admin/workspaces/${workspaceB}/keys`, { auth: bearer(adminA.apiKey) })).status,
    ).toBe(403);
    expect(
      (
        await call('POST', '/v1/admin/workspaces', {
          auth: bearer(adminA.apiKey),
          json: { name: 'mine now' },
        })
      ).status,
    ).toBe(403);
    const visible = await call<Array<{ workspaceId: string }>>('GET', '/v1/admin/workspaces', {
      auth: bearer(adminA.apiKey),
    });
    expect(visible.body.map((w) => w.workspaceId)).toEqual([workspaceA]);
    expect((await track(bearer(keyB.apiKey))).status).toBe(200);

    // Keys without the admin scope never reach the admin API.
    const trackOnly = await createKey(workspaceA, ['track:write']);
    expect((await call('GET', '/v1/admin/workspaces', { auth: bearer(trackOnly.apiKey) })).status).toBe(403);
    expect((await call('GET', '/v1/admin/workspaces', { auth: bearer('nope') })).status).toBe(401);

    const refusal = await auditEntry(
      workspaceA,
      (e) =>
        e.outcome === 'denied' &&
        e.actorCredentialId === `key:${adminA.keyId}` &&
        e.action === 'api_key.revoked',
    );
    expect(refusal).toMatchObject({
      targetId: keyB.keyId,
      reason: 'credential belongs to another workspace',
    });
  });

  it('every response carries a request id (a sane incoming one is kept); key creation is audited with it', async () => {
    const requestId = `req-${run}`;
    const res = await call<CreatedKey>('POST', `/v1/admin/workspaces/${workspaceB}/keys`, {
      auth: operator,
      json: { name: 'audited', scopes: ['track:write', 'webhooks:hubspot'] },
      headers: { 'x-request-id': requestId },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    const generated = (await call('GET', '/health/live', { headers: { 'x-request-id': 'x'.repeat(300) } }))
      .headers;
    expect(generated.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const entry = await auditEntry(
      workspaceB,
      (e) => e.action === 'api_key.created' && e.targetId === res.body.keyId,
    );
    expect(entry).toMatchObject({
      metadata: { workspaceId: workspaceB, source: 'ingestion' },
      actorCredentialId: 'admin-token',
      actorWorkspaceId: null,
      targetType: 'api_key',
      outcome: 'success',
      requestId,
    });
    expect(JSON.parse(entry.detailsJson ?? '{}')).toEqual({ scopes: ['track:write', 'webhooks:hubspot'] });
    expect(JSON.stringify(entry)).not.toContain(res.body.apiKey.slice(-43));
  });
});
