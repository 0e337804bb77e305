/**
 * Webhooks, lead forms and the API description against the real stack, ingestion started in-process: signed HubSpot
 * and Shopify deliveries become leads.captured / records.changed in the path's workspace, replays and retried forms
 * produce once, bad input gets a 4xx JSON error (1,000+ generated bodies per endpoint) and the service stays up.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Kafka } from 'kafkajs';
import type { OpenAPIObject } from '@nestjs/swagger';
import { Topics, type LeadCaptured, type RecordChanged } from '@tributary/contracts';
import { AvroSchemaRegistry, createKafka } from '@tributary/messaging';
import { startService, type RunningService } from '@tributary/runtime';
import { createLogger } from '@tributary/observability';
import { readAnswer, readTopicUntil, testServiceEnv, uniqueId, type ReadRecord } from '@tributary/testing';
import { IngestionModule } from '../app.module';
import { loadIngestionConfig } from '../config';
import { publicApiDocument } from '../openapi/api-docs';
import { readCommittedOpenApi } from '../openapi/committed-openapi';
import { hubSpotSignatureV3 } from './signatures/hubspot-webhook-verifier';
import { shopifyHmac } from './signatures/shopify-webhook-verifier';
import {
  hubSpotContactCreation,
  hubSpotPropertyChange,
  shopifyCustomer,
  shopifyOrder,
} from './testing/webhook-samples';

const run = uniqueId('edge');
const workspace = `ws_${run}`;
const writeKey = `key-${run}`;
const hubSpotSecret = `hs-${run}`;
const shopifySecret = `shop-${run}`;
const config = loadIngestionConfig(
  testServiceEnv('ingestion', run, {
    WRITE_KEYS: `${writeKey}:${workspace}`,
    WEBHOOK_SECRETS: `${workspace}:hubspot:${hubSpotSecret},${workspace}:shopify:${shopifySecret}`,
    LEAD_REQUIRED_CONSENTS: `${workspace}:email_marketing`,
  }),
);
let service: RunningService;
let kafka: Kafka;
let registry: AvroSchemaRegistry;
// Ids unique to this run, so records left on the shared topics by earlier runs never match.
const orderId = Number.parseInt(String(Date.now()).slice(-9), 10) * 1000 + Math.floor(Math.random() * 1000);

beforeAll(async () => {
  service = await startService(IngestionModule.forRoot(config), config);
  kafka = createKafka(`edge-${run}`, config.KAFKA_BROKERS, createLogger('edge-test', 'fatal'));
  registry = new AvroSchemaRegistry(config.SCHEMA_REGISTRY_URL);
});

afterAll(async () => {
  await service?.close();
});

const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

async function post(path: string, body: string | Buffer, headers: Record<string, string>) {
  const res = await fetch(`${service.url}${path}`, { method: 'POST', body, headers });
  const answer = await readAnswer(res);
  return { ...answer, contentType: answer.headers.get('content-type') ?? '' };
}

function shopifyDelivery(body: string, topic: string, webhookId = randomUUID(), secret = shopifySecret) {
  return post(`/v1/webhooks/shopify/${workspace}`, body, {
    'content-type': 'application/json',
    'x-shopify-hmac-sha256': shopifyHmac(secret, Buffer.from(body)),
    'x-shopify-topic': topic,
    'x-shopify-webhook-id': webhookId,
    'x-shopify-triggered-at': new Date().toISOString(),
    'x-shopify-shop-domain': 'tributary-demo.myshopify.com',
  });
}

/** Now, as Shopify stamps a resource's updated_at: deliveries older than WEBHOOK_MAX_AGE_HOURS are refused. */
const shopifyNow = () => new Date().toISOString();

function hubSpotDelivery(events: unknown[], secret = hubSpotSecret) {
  const path = `/v1/webhooks/hubspot/${workspace}`;
  const body = JSON.stringify(events);
  const timestamp = String(Date.now());
  const signature = hubSpotSignatureV3(
    secret,
    { method: 'POST', url: `${service.url}${path}`, rawBody: Buffer.from(body) },
    timestamp,
  );
  return post(path, body, {
    'content-type': 'application/json',
    'x-hubspot-signature-v3': signature,
    'x-hubspot-request-timestamp': timestamp,
  });
}

function leadForm(body: unknown, headers: Record<string, string> = {}) {
  return post('/v1/leads', JSON.stringify(body), {
    authorization: basic,
    'content-type': 'application/json',
    ...headers,
  });
}

/** Decoded records of this run's workspace on a topic, read until `done` holds. */
async function workspaceEvents<T extends { metadata: { workspaceId: string } }>(
  topic: string,
  done: (events: T[]) => boolean,
): Promise<T[]> {
  const decoded = new Map<ReadRecord, T>();
  const mine = async (records: ReadRecord[]) => {
    for (const r of records) if (!decoded.has(r)) decoded.set(r, (await registry.decode(r.value)) as T);
    return [...decoded.values()].filter((e) => e.metadata.workspaceId === workspace);
  };
  const records = await readTopicUntil(kafka, topic, async (rs) => done(await mine(rs)));
  return mine(records);
}

describe('signed webhooks', () => {
  it('a HubSpot batch becomes a lead and a record change in the path’s workspace', async () => {
    const email = `grace.${run}@navy.example`;
    const creation = hubSpotContactCreation({ eventId: 7001, email: email.toUpperCase() });
    const change = hubSpotPropertyChange({ eventId: 7002, objectId: orderId });
    const res = await hubSpotDelivery([creation, change]);
    expect({ status: res.status, body: res.json }).toMatchObject({ status: 200, body: { accepted: 2 } });

    const leads = await workspaceEvents<LeadCaptured>(Topics.LeadsCaptured, (es) =>
      es.some((e) => e.email === email),
    );
    expect(leads.find((e) => e.email === email)).toMatchObject({
      source: 'hubspot',
      externalId: '5101',
      firstName: 'Grace',
      consents: { email_marketing: true },
      metadata: { workspaceId: workspace, source: 'ingestion:hubspot' },
    });
    const records = await workspaceEvents<RecordChanged>(Topics.RecordsChanged, (es) =>
      es.some((e) => e.system === 'hubspot' && e.externalId === String(orderId)),
    );
    expect(records.find((e) => e.system === 'hubspot')).toMatchObject({
      objectType: 'contact',
      operation: 'update',
      fieldsJson: JSON.stringify({ lifecyclestage: 'marketingqualifiedlead' }),
    });
  });

  it('a Shopify customers/create becomes a lead keyed by the normalised email', async () => {
    const email = `bob.${run}@biller.example`;
    const res = await shopifyDelivery(
      JSON.stringify(shopifyCustomer({ id: orderId, email: email.toUpperCase(), at: shopifyNow() })),
      'customers/create',
    );
    expect(res.status).toBe(200);
    const records = await readTopicUntil(kafka, Topics.LeadsCaptured, (rs) =>
      rs.some((r) => r.key?.toString() === email),
    );
    const lead = (await registry.decode(
      records.find((r) => r.key?.toString() === email)?.value ?? null,
    )) as LeadCaptured;
    expect(lead).toMatchObject({
      source: 'shopify',
      company: 'Biller Inc.',
      metadata: { workspaceId: workspace },
    });
  });

  it('a replayed Shopify delivery is accepted twice and published once, even under a new webhook id', async () => {
    const body = JSON.stringify(shopifyOrder({ id: orderId, at: shopifyNow() }));
    const webhookId = randomUUID();
    const first = await shopifyDelivery(body, 'orders/create', webhookId);
    const replay = await shopifyDelivery(body, 'orders/create', webhookId);
    const resent = await shopifyDelivery(body, 'orders/create', randomUUID());
    expect([first.status, replay.status, resent.status]).toEqual([200, 200, 200]);
    expect(replay.json).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(resent.json).toMatchObject({ accepted: 0, duplicates: 1 });
    // A later change of the same order shares its key, hence its partition: once it is read, so is any duplicate.
    const updated = {
      ...shopifyOrder({ id: orderId }),
      updated_at: shopifyNow(),
      financial_status: 'refunded',
    };
    expect((await shopifyDelivery(JSON.stringify(updated), 'orders/updated')).status).toBe(200);

    const mine = (e: RecordChanged) => e.system === 'shopify' && e.externalId === String(orderId);
    const events = await workspaceEvents<RecordChanged>(Topics.RecordsChanged, (es) =>
      es.some((e) => mine(e) && e.operation === 'update'),
    );
    expect(events.filter(mine).map((e) => e.operation)).toEqual(['create', 'update']);
  });

  it('refuses a bad signature with 401 and a JSON reason, and an unknown source with 404', async () => {
    const body = JSON.stringify(shopifyOrder());
    const res = await shopifyDelivery(body, 'orders/create', randomUUID(), 'not-the-secret');
    expect({ status: res.status, body: res.json }).toEqual({
      status: 401,
      body: {
        error: 'unauthorized',
        reason: 'signature does not match',
        problems: [{ field: '(request)', reason: 'signature does not match' }],
      },
    });
    const hub = await hubSpotDelivery([hubSpotContactCreation()], 'not-the-secret');
    expect(hub.status).toBe(401);
    const unknown = await post(`/v1/webhooks/salesforce/${workspace}`, '{}', {
      'content-type': 'application/json',
    });
    expect({ status: unknown.status, body: unknown.json }).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it('refuses a year-old Shopify body re-sent with fresh headers (401) and an order body sent as orders/delete (400)', async () => {
    const yearAgo = new Date(Date.now() - 365 * 24 * 3_600_000).toISOString();
    const old = await shopifyDelivery(
      JSON.stringify(shopifyOrder({ id: orderId + 1, at: yearAgo })),
      'orders/create',
    );
    expect({ status: old.status, body: old.json }).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', problems: [{ field: 'updated_at' }] },
    });
    const fresh = JSON.stringify(shopifyOrder({ id: orderId + 2, at: shopifyNow() }));
    const asDelete = await shopifyDelivery(fresh, 'orders/delete');
    expect({ status: asDelete.status, body: asDelete.json }).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', problems: [{ field: 'X-Shopify-Topic' }] },
    });
  });

  it('answers 202 ignored for an unmapped topic', async () => {
    const res = await shopifyDelivery('{"id":1,"token":"abc"}', 'carts/create');
    expect({ status: res.status, body: res.json }).toMatchObject({
      status: 202,
      body: { ignored: true, reason: 'no mapping for shopify event type carts/create' },
    });
  });
});

describe('lead capture forms', () => {
  it('captures a lead with the normalised email as key', async () => {
    const email = `ada.${run}@example.com`;
    const res = await leadForm({
      email: `  ${email.toUpperCase()}`,
      firstName: 'Ada',
      consents: { email_marketing: true },
      formId: 'demo-request',
    });
    expect({ status: res.status, body: res.json }).toMatchObject({ status: 200, body: { success: true } });
    const records = await readTopicUntil(kafka, Topics.LeadsCaptured, (rs) =>
      rs.some((r) => r.key?.toString() === email),
    );
    const lead = (await registry.decode(
      records.find((r) => r.key?.toString() === email)?.value ?? null,
    )) as LeadCaptured;
    expect(lead).toMatchObject({
      email,
      firstName: 'Ada',
      source: 'form',
      formId: 'demo-request',
      metadata: { workspaceId: workspace, source: 'ingestion' },
    });
  });

  it('answers 400 naming a missing required consent', async () => {
    const res = await leadForm({ email: `x.${run}@example.com` });
    expect({ status: res.status, body: res.json }).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        problems: [{ field: 'consents.email_marketing', reason: 'required consent is missing' }],
      },
    });
  });

  it('a retried post with the same Idempotency-Key is captured once', async () => {
    const email = `retry.${run}@example.com`;
    const body = { email, consents: { email_marketing: true } };
    const key = randomUUID();
    const first = await leadForm(body, { 'idempotency-key': key });
    const retry = await leadForm(body, { 'idempotency-key': key });
    expect(retry.json).toMatchObject({
      duplicate: true,
      eventId: (first.json as { eventId: string }).eventId,
    });
    // A different submission of the same person: same key (email), same partition, read after the retry would be.
    const marker = await leadForm({ ...body, formId: 'marker' });
    expect(marker.status).toBe(200);
    const events = await workspaceEvents<LeadCaptured>(Topics.LeadsCaptured, (es) =>
      es.some((e) => e.email === email && e.formId === 'marker'),
    );
    expect(events.filter((e) => e.email === email).map((e) => e.formId)).toEqual([null, 'marker']);
  });
});

describe('API description', () => {
  it('serves /docs/openapi.json equal to the committed apps/ingestion/openapi.json less its admin routes, and Swagger UI at /docs', async () => {
    const served = await fetch(`${service.url}/docs/openapi.json`);
    expect(served.status).toBe(200);
    expect(await served.json()).toEqual(publicApiDocument(readCommittedOpenApi() as OpenAPIObject));
    const ui = await fetch(`${service.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
  });
});

// ---- generated malformed input ----

const jsonText = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));
// Neither a string nor a number: wrong for ids (which may be numbers) and for every text field.
const notStringOrNumber = fc.oneof(
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
const wrongType = fc.oneof(notStringOrNumber, fc.integer());
const hugeString = fc.string({ minLength: 1_001, maxLength: 20_000 });
const nonJsonBytes = fc
  .uint8Array({ minLength: 1, maxLength: 300 })
  .map((bytes) => Buffer.from(bytes))
  .filter((b) => {
    try {
      JSON.parse(b.toString('utf8'));
      return false;
    } catch {
      return true;
    }
  });

/** Bodies no lead form may accept: random JSON, wrong types, huge strings, bytes that are not JSON. */
const malformedLead: fc.Arbitrary<string | Buffer> = fc.oneof(
  jsonText,
  fc
    .record(
      {
        email: fc.oneof(
          wrongType,
          fc.string({ maxLength: 40 }).filter((s) => !s.includes('@')),
          hugeString,
        ),
        firstName: fc.oneof(wrongType, hugeString),
        consents: fc.oneof(wrongType, fc.dictionary(fc.string({ maxLength: 10 }), fc.string())),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  nonJsonBytes,
);

/** Orders and customers with wrongly typed ids and dates, random JSON, huge ids, non-JSON bytes. */
const malformedShopify: fc.Arbitrary<string | Buffer> = fc.oneof(
  jsonText,
  fc
    .record(
      { id: fc.oneof(notStringOrNumber, hugeString), created_at: fc.oneof(wrongType, fc.string()) },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  nonJsonBytes,
);

function expectJsonClientError(res: Awaited<ReturnType<typeof post>>): void {
  const ok = res.status >= 400 && res.status < 500 && res.contentType.includes('application/json');
  if (!ok || typeof (res.json as { error?: unknown })?.error !== 'string') {
    throw new Error(
      `expected a 4xx JSON error, got ${res.status} ${res.contentType}: ${res.text.slice(0, 300)}`,
    );
  }
}

describe('generated malformed bodies', () => {
  it('POST /v1/leads answers every one with a 4xx JSON error', async () => {
    await fc.assert(
      fc.asyncProperty(malformedLead, async (body) => {
        expectJsonClientError(
          await post('/v1/leads', body, { authorization: basic, 'content-type': 'application/json' }),
        );
      }),
      { numRuns: 1_000 },
    );
  });

  it('POST /v1/webhooks/shopify answers every one with a 4xx JSON error, signed or not', async () => {
    const signing = fc.constantFrom('valid', 'wrong', 'none');
    const topic = fc.constantFrom('orders/create', 'orders/updated', 'customers/create');
    await fc.assert(
      fc.asyncProperty(malformedShopify, signing, topic, async (body, sign, t) => {
        const raw = Buffer.from(body);
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          'x-shopify-topic': t,
          'x-shopify-webhook-id': randomUUID(),
        };
        if (sign !== 'none')
          headers['x-shopify-hmac-sha256'] = shopifyHmac(sign === 'valid' ? shopifySecret : 'x', raw);
        expectJsonClientError(await post(`/v1/webhooks/shopify/${workspace}`, raw, headers));
      }),
      { numRuns: 1_000 },
    );
  });

  it('the service is still live afterwards', async () => {
    const res = await fetch(`${service.url}/health/live`);
    expect(res.status).toBe(200);
  });
});
