import type { LeadCaptured, RecordChanged } from '@tributary/contracts';
import type { EventPublisher, OutgoingEvent, ProcessedEvents } from '@tributary/messaging';
import type { Logger } from '@tributary/observability';
import { loadIngestionConfig } from '../config';
import { LeadCapture } from '../leads/lead-capture.service';
import { hubSpotSignatureV3 } from './signatures/hubspot-webhook-verifier';
import { shopifyHmac } from './signatures/shopify-webhook-verifier';
import type { SignedRequest } from './signatures/signature';
import { hubSpotBatch, hubSpotContactCreation, shopifyOrder } from './testing/webhook-samples';
import { WebhookIntake } from './webhook-intake.service';

const now = 1_717_236_000_000;
const config = loadIngestionConfig({
  HTTP_PORT: '0',
  WEBHOOK_SECRETS: 'ws_a:hubspot:hs-secret,ws_a:shopify:shop-secret',
});

/** In-memory stand-ins for Kafka and the dedupe store: what was published, and the same once() contract. */
function harness() {
  const published: OutgoingEvent[] = [];
  const publisher = {
    publish: async (e: OutgoingEvent) => void published.push(e),
  } as unknown as EventPublisher;
  const done = new Set<string>();
  const processed = {
    once: async <T>(scope: string, id: string, effect: () => Promise<T>) => {
      if (done.has(`${scope}:${id}`)) return { applied: false };
      const result = await effect();
      done.add(`${scope}:${id}`);
      return { applied: true, result };
    },
  } as unknown as ProcessedEvents;
  const logger = { info: jest.fn() } as unknown as Logger;
  const intake = new WebhookIntake(
    publisher,
    processed,
    new LeadCapture(publisher, processed),
    config,
    logger,
  );
  return { intake, published, logger };
}

function shopifyRequest(
  body: unknown,
  topic = 'orders/create',
  webhookId = 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
) {
  const rawBody = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    method: 'POST',
    url: 'http://127.0.0.1:3000/v1/webhooks/shopify/ws_a',
    rawBody,
    headers: {
      'x-shopify-hmac-sha256': shopifyHmac('shop-secret', rawBody),
      'x-shopify-topic': topic,
      'x-shopify-webhook-id': webhookId,
    },
  } satisfies SignedRequest;
}

function hubSpotRequest(events: unknown[], timestamp = now): SignedRequest {
  const request = {
    method: 'POST',
    url: 'http://127.0.0.1:3000/v1/webhooks/hubspot/ws_a',
    rawBody: Buffer.from(JSON.stringify(events)),
  };
  return {
    ...request,
    headers: {
      'x-hubspot-signature-v3': hubSpotSignatureV3('hs-secret', request, String(timestamp)),
      'x-hubspot-request-timestamp': String(timestamp),
    },
  };
}

describe('WebhookIntake', () => {
  it('publishes a signed Shopify order as records.changed in the path’s workspace, keyed by the record', async () => {
    const { intake, published } = harness();
    const receipt = await intake.receive('shopify', 'ws_a', shopifyRequest(shopifyOrder()), now);
    expect(receipt).toMatchObject({ status: 200, body: { accepted: 1, duplicates: 0, ignored: false } });
    expect(published).toHaveLength(1);
    const [out] = published;
    const record = out?.event as RecordChanged;
    expect(out?.topic).toBe('records.changed');
    expect(out?.key).toBe('shopify:order:5461782921372');
    expect(record).toMatchObject({
      system: 'shopify',
      objectType: 'order',
      operation: 'create',
      metadata: { workspaceId: 'ws_a', source: 'ingestion:shopify' },
    });
  });

  it('a replayed delivery is accepted again but published once, under the same deterministic event id', async () => {
    const { intake, published } = harness();
    const first = await intake.receive('shopify', 'ws_a', shopifyRequest(shopifyOrder()), now);
    const replay = await intake.receive('shopify', 'ws_a', shopifyRequest(shopifyOrder()), now + 5_000);
    expect(replay).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1 } });
    expect(published).toHaveLength(1);
    const id = (r: typeof first) => (r.status === 200 ? r.body.events[0]?.eventId : undefined);
    expect(id(replay)).toBe(id(first));
  });

  it('refuses a bad signature, another workspace and an expired HubSpot timestamp with 401', async () => {
    const { intake, published } = harness();
    const forged = { ...shopifyRequest(shopifyOrder()), rawBody: Buffer.from('{"id":1}') };
    expect(await intake.receive('shopify', 'ws_a', forged, now)).toEqual({
      status: 401,
      body: { error: 'unauthorized', reason: 'signature does not match' },
    });
    expect((await intake.receive('shopify', 'ws_b', shopifyRequest(shopifyOrder()), now)).status).toBe(401);
    const expired = hubSpotRequest([hubSpotContactCreation()], now - 6 * 60_000);
    expect(await intake.receive('hubspot', 'ws_a', expired, now)).toEqual({
      status: 401,
      body: { error: 'unauthorized', reason: 'request timestamp is older than 5 minutes' },
    });
    expect(published).toHaveLength(0);
  });

  it('maps each event of a HubSpot batch: a lead keyed by its email and a record change', async () => {
    const { intake, published } = harness();
    const receipt = await intake.receive(
      'hubspot',
      'ws_a',
      hubSpotRequest([hubSpotContactCreation(), hubSpotBatch[0]]),
      now,
    );
    expect(receipt).toMatchObject({ status: 200, body: { accepted: 2 } });
    expect(published.map((p) => [p.topic, p.key])).toEqual([
      ['leads.captured', 'grace.hopper@navy.example'],
      ['records.changed', 'hubspot:contact:1246965'],
    ]);
    expect(published[0]?.event as LeadCaptured).toMatchObject({ source: 'hubspot', externalId: '5101' });
  });

  it('answers 202 ignored for an unmapped event type and logs it', async () => {
    const { intake, published, logger } = harness();
    const receipt = await intake.receive('shopify', 'ws_a', shopifyRequest({ id: 1 }, 'carts/create'), now);
    expect(receipt).toMatchObject({
      status: 202,
      body: { ignored: true, reason: 'no mapping for shopify event type carts/create' },
    });
    expect(published).toHaveLength(0);
    expect(logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ event: 'webhook_ignored', eventType: 'carts/create' }),
      expect.any(String),
    );
  });

  it('refuses signed non-JSON (400), a missing topic header (400) and an unmappable order (422)', async () => {
    const { intake, published } = harness();
    expect(await intake.receive('shopify', 'ws_a', shopifyRequest('{"id": 1'), now)).toMatchObject({
      status: 400,
      body: { problems: [{ field: '(body)', reason: 'must be JSON' }] },
    });
    const noTopic = shopifyRequest(shopifyOrder());
    const { 'x-shopify-topic': _topic, ...headers } = noTopic.headers;
    expect(await intake.receive('shopify', 'ws_a', { ...noTopic, headers }, now)).toMatchObject({
      status: 400,
      body: { problems: [{ field: 'X-Shopify-Topic' }] },
    });
    expect(await intake.receive('shopify', 'ws_a', shopifyRequest({ name: '#1' }), now)).toMatchObject({
      status: 422,
      body: {
        error: 'unprocessable_payload',
        problems: [{ field: 'id', reason: 'is required' }, { field: 'created_at | updated_at' }],
      },
    });
    expect(published).toHaveLength(0);
  });
});
