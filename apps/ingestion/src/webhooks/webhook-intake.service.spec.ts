import type { LeadCaptured, RecordChanged } from '@tributary/contracts';
import type { EventPublisher, OutgoingEvent } from '@tributary/messaging';
import type { ProcessedEvents } from '@tributary/store';
import type { Logger } from '@tributary/observability';
import { loadIngestionConfig } from '../config';
import { LeadCapture } from '../leads/lead-capture.service';
import { hubSpotSignatureV3 } from './signatures/hubspot-webhook-verifier';
import { shopifyHmac } from './signatures/shopify-webhook-verifier';
import type { SignedRequest } from './signatures/signature';
import {
  hubSpotBatch,
  hubSpotContactCreation,
  shopifyCustomer,
  shopifyOrder,
  shopifyOrderDeletion,
} from './testing/webhook-samples';
import { WebhookIntake, type WebhookReceipt } from './webhook-intake.service';

const now = 1_717_236_000_000;
const HOUR = 3_600_000;
/** ISO-8601 time `ms` before `now`: Shopify stamps bodies and X-Shopify-Triggered-At this way. */
const ago = (ms: number) => new Date(now - ms).toISOString();
const env = {
  HTTP_PORT: '0',
  WEBHOOK_SECRETS: 'ws_a:hubspot:hs-secret,ws_a:shopify:shop-secret',
};
const config = loadIngestionConfig(env);

/** In-memory stand-ins for Kafka and the dedupe store: what was published, and the same once() contract. */
function harness(settings = config) {
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
    settings,
    logger,
  );
  return { intake, published, logger };
}

/** A signed Shopify delivery; only the body is signed, every header here is the sender's word. */
function shopifyRequest(
  body: unknown,
  topic = 'orders/create',
  webhookId = 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
  triggeredAt = ago(60_000),
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
      'x-shopify-triggered-at': triggeredAt,
    },
  } satisfies SignedRequest;
}

/** An order Shopify made a minute before `now`. */
const freshOrder = (id?: number) => shopifyOrder({ id, at: ago(60_000) });

const eventIdOf = (receipt: WebhookReceipt) =>
  receipt.status === 200 ? receipt.body.events[0]?.eventId : undefined;

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

/** A HubSpot request signed over raw text (what JSON.stringify could not even produce). */
function signedHubSpot(text: string): Pick<SignedRequest, 'rawBody' | 'headers'> {
  const request = {
    method: 'POST',
    url: 'http://127.0.0.1:3000/v1/webhooks/hubspot/ws_a',
    rawBody: Buffer.from(text),
  };
  return {
    rawBody: request.rawBody,
    headers: {
      'x-hubspot-signature-v3': hubSpotSignatureV3('hs-secret', request, String(now)),
      'x-hubspot-request-timestamp': String(now),
    },
  };
}

describe('WebhookIntake', () => {
  it('publishes a signed Shopify order as records.changed in the path’s workspace, keyed by the record', async () => {
    const { intake, published } = harness();
    const receipt = await intake.receive('shopify', 'ws_a', shopifyRequest(freshOrder()), now);
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

  it('Shopify’s own retry (same bytes, same headers) is accepted again but published once, under the same event id', async () => {
    const { intake, published } = harness();
    const first = await intake.receive('shopify', 'ws_a', shopifyRequest(freshOrder()), now);
    const retry = await intake.receive('shopify', 'ws_a', shopifyRequest(freshOrder()), now + 3 * HOUR);
    expect(retry).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1 } });
    expect(published).toHaveLength(1);
    expect(eventIdOf(retry)).toBe(eventIdOf(first));
  });

  it('refuses a bad signature, another workspace and an expired HubSpot timestamp with 401', async () => {
    const { intake, published } = harness();
    const forged = { ...shopifyRequest(freshOrder()), rawBody: Buffer.from('{"id":1}') };
    expect(await intake.receive('shopify', 'ws_a', forged, now)).toEqual({
      status: 401,
      body: {
        error: 'unauthorized',
        reason: 'signature does not match',
        problems: [{ field: '(request)', reason: 'signature does not match' }],
      },
    });
    expect((await intake.receive('shopify', 'ws_b', shopifyRequest(freshOrder()), now)).status).toBe(401);
    const expired = hubSpotRequest([hubSpotContactCreation()], now - 6 * 60_000);
    expect(await intake.receive('hubspot', 'ws_a', expired, now)).toMatchObject({
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
    const noTopic = shopifyRequest(freshOrder());
    const { 'x-shopify-topic': _topic, ...headers } = noTopic.headers;
    expect(await intake.receive('shopify', 'ws_a', { ...noTopic, headers }, now)).toMatchObject({
      status: 400,
      body: { problems: [{ field: 'X-Shopify-Topic' }] },
    });
    const noIdNoTime = { admin_graphql_api_id: 'gid://shopify/Order/1', name: '#1' };
    expect(await intake.receive('shopify', 'ws_a', shopifyRequest(noIdNoTime), now)).toMatchObject({
      status: 422,
      body: {
        error: 'unprocessable_payload',
        problems: [{ field: 'id', reason: 'is required' }, { field: 'created_at | updated_at' }],
      },
    });
    expect(published).toHaveLength(0);
  });

  it('refuses a signed body holding NUL or nested past 64 levels (400, field named) instead of publishing it', async () => {
    const { intake, published } = harness();
    const order = { ...(freshOrder(7) as Record<string, unknown>), note: 'gift\u0000' };
    expect(await intake.receive('shopify', 'ws_a', shopifyRequest(order), now)).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        problems: [{ field: 'note', reason: 'must not contain the NUL character (\\u0000)' }],
      },
    });
    const deep = `[${'['.repeat(5_000)}${']'.repeat(5_000)}]`;
    expect(
      await intake.receive('hubspot', 'ws_a', { ...hubSpotRequest([]), ...signedHubSpot(deep) }, now),
    ).toMatchObject({
      status: 400,
      body: { problems: [{ reason: 'nests deeper than 64 levels' }] },
    });
    expect(published).toHaveLength(0);
  });
});

describe('WebhookIntake: replayed Shopify bodies (only the body is signed)', () => {
  it('refuses a year-old signed body re-sent with a new X-Shopify-Webhook-Id and a fresh X-Shopify-Triggered-At', async () => {
    const { intake, published } = harness();
    const yearOld = shopifyOrder({ at: ago(365 * 24 * HOUR) });
    const replay = shopifyRequest(yearOld, 'orders/create', 'a-new-webhook-id', ago(1_000));
    expect(await intake.receive('shopify', 'ws_a', replay, now)).toEqual({
      status: 401,
      body: {
        error: 'unauthorized',
        reason: 'delivery is older than 24 hours',
        problems: [
          {
            field: 'updated_at',
            reason: 'is older than 24 hours: a replay, or a delivery past the sender’s retries',
          },
        ],
      },
    });
    expect(published).toHaveLength(0);
  });

  it('the same body under a new X-Shopify-Webhook-Id is a duplicate: dedupe is by the signed bytes', async () => {
    const { intake, published } = harness();
    const first = await intake.receive(
      'shopify',
      'ws_a',
      shopifyRequest(freshOrder(), 'orders/create', 'id-1'),
      now,
    );
    const resent = await intake.receive(
      'shopify',
      'ws_a',
      shopifyRequest(freshOrder(), 'orders/create', 'id-2', ago(0)),
      now,
    );
    expect(resent).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1 } });
    expect(eventIdOf(resent)).toBe(eventIdOf(first));
    expect(published).toHaveLength(1);
  });

  it('the same order body under another order topic is a duplicate, not a second event', async () => {
    const { intake, published } = harness();
    await intake.receive('shopify', 'ws_a', shopifyRequest(freshOrder()), now);
    for (const topic of ['orders/updated', 'orders/paid', 'orders/cancelled']) {
      const resent = await intake.receive('shopify', 'ws_a', shopifyRequest(freshOrder(), topic, topic), now);
      expect({ topic, receipt: resent }).toMatchObject({
        topic,
        receipt: { status: 200, body: { accepted: 0, duplicates: 1 } },
      });
    }
    expect(published.map((p) => (p.event as RecordChanged).operation)).toEqual(['create']);
  });

  it.each([
    ['orders/delete', 'it holds the resource’s state, a deletion only its id'],
    ['customers/create', 'its admin_graphql_api_id is not a Customer'],
  ])(
    'refuses an orders/create body sent as %s (400): the topic must match the signed body',
    async (topic, why) => {
      const { intake, published } = harness();
      const receipt = await intake.receive(
        'shopify',
        'ws_a',
        shopifyRequest(freshOrder(), topic, 'other-id'),
        now,
      );
      expect(receipt).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          problems: [{ field: 'X-Shopify-Topic', reason: `${topic} does not match the signed body: ${why}` }],
        },
      });
      expect(published).toHaveLength(0);
    },
  );

  it('accepts Shopify’s documented orders/delete, dated by X-Shopify-Triggered-At; refuses it stale or undated', async () => {
    const { intake, published } = harness();
    const deletion = shopifyOrderDeletion();
    const fresh = await intake.receive('shopify', 'ws_a', shopifyRequest(deletion, 'orders/delete'), now);
    expect(fresh).toMatchObject({ status: 200, body: { accepted: 1 } });
    expect(published.map((p) => (p.event as RecordChanged).operation)).toEqual(['delete']);

    const stale = shopifyRequest({ id: 42 }, 'orders/delete', 'x', ago(25 * HOUR));
    expect(await intake.receive('shopify', 'ws_a', stale, now)).toMatchObject({
      status: 401,
      body: {
        problems: [{ field: 'X-Shopify-Triggered-At', reason: expect.stringMatching(/^is older than/) }],
      },
    });
    const undated = shopifyRequest({ id: 43 }, 'orders/delete');
    const { 'x-shopify-triggered-at': _at, ...headers } = undated.headers;
    expect(await intake.receive('shopify', 'ws_a', { ...undated, headers }, now)).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        problems: [
          {
            field: 'X-Shopify-Triggered-At',
            reason: 'header is required (ISO-8601) when the body has no updated_at or created_at',
          },
        ],
      },
    });
    expect(published).toHaveLength(1);
  });

  it('the signed body’s time wins over X-Shopify-Triggered-At, and a far-future time is refused', async () => {
    const { intake, published } = harness();
    const oldBodyFreshHeader = shopifyRequest(
      shopifyOrder({ at: ago(30 * HOUR) }),
      'orders/create',
      'a',
      ago(0),
    );
    expect((await intake.receive('shopify', 'ws_a', oldBodyFreshHeader, now)).status).toBe(401);
    const future = shopifyRequest(shopifyOrder({ at: ago(-2 * HOUR) }), 'orders/create', 'b', ago(0));
    expect(await intake.receive('shopify', 'ws_a', future, now)).toMatchObject({
      status: 401,
      body: {
        reason: 'delivery is dated in the future',
        problems: [{ field: 'updated_at', reason: 'is more than 300 seconds in the future' }],
      },
    });
    expect(published).toHaveLength(0);
  });

  it('takes its window from WEBHOOK_MAX_AGE_HOURS, never beyond DEDUPE_TTL_HOURS (replays must still be remembered)', async () => {
    const dayAndAHalf = shopifyRequest(shopifyOrder({ at: ago(36 * HOUR) }));
    expect((await harness().intake.receive('shopify', 'ws_a', dayAndAHalf, now)).status).toBe(401);
    const twoDays = loadIngestionConfig({ ...env, WEBHOOK_MAX_AGE_HOURS: '48' });
    expect((await harness(twoDays).intake.receive('shopify', 'ws_a', dayAndAHalf, now)).status).toBe(200);
    const shortMemory = loadIngestionConfig({ ...env, WEBHOOK_MAX_AGE_HOURS: '48', DEDUPE_TTL_HOURS: '12' });
    const halfADay = shopifyRequest(shopifyOrder({ at: ago(13 * HOUR) }));
    expect(await harness(shortMemory).intake.receive('shopify', 'ws_a', halfADay, now)).toMatchObject({
      status: 401,
      body: { reason: 'delivery is older than 12 hours' },
    });
  });

  it('still publishes a customers/create lead and a customers/update record when Shopify sends both with one body', async () => {
    const { intake, published } = harness();
    const customer = shopifyCustomer({ at: ago(60_000) });
    const update = await intake.receive(
      'shopify',
      'ws_a',
      shopifyRequest(customer, 'customers/update', 'u'),
      now,
    );
    const create = await intake.receive(
      'shopify',
      'ws_a',
      shopifyRequest(customer, 'customers/create', 'c'),
      now,
    );
    expect([update.status, create.status]).toEqual([200, 200]);
    expect(published.map((p) => p.topic)).toEqual(['records.changed', 'leads.captured']);
  });

  it('ignores (202) an unmapped topic without judging its body: it has no effect to protect', async () => {
    const { intake } = harness();
    const shopUpdate = shopifyRequest({ id: 1, updated_at: ago(400 * 24 * HOUR) }, 'shop/update');
    expect(await intake.receive('shopify', 'ws_a', shopUpdate, now)).toMatchObject({ status: 202 });
  });
});

describe('WebhookIntake: HubSpot signs the time and the body, so no header changes what a request means', () => {
  it('HubSpot’s retry (re-signed later, attemptNumber 1) is a duplicate: its id comes from the signed body', async () => {
    const { intake, published } = harness();
    const event = hubSpotContactCreation();
    const first = await intake.receive('hubspot', 'ws_a', hubSpotRequest([event]), now);
    const retried = hubSpotRequest([{ ...event, attemptNumber: 1 }], now + 60_000);
    const retry = await intake.receive('hubspot', 'ws_a', retried, now + 60_000);
    expect(retry).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1 } });
    expect(eventIdOf(retry)).toBe(eventIdOf(first));
    expect(published).toHaveLength(1);
  });

  it('refuses a captured request re-sent with a fresh X-HubSpot-Request-Timestamp: the timestamp is signed', async () => {
    const { intake, published } = harness();
    const captured = hubSpotRequest([hubSpotContactCreation()], now - HOUR);
    const refreshed = {
      ...captured,
      headers: { ...captured.headers, 'x-hubspot-request-timestamp': String(now) },
    };
    expect(await intake.receive('hubspot', 'ws_a', refreshed, now)).toMatchObject({
      status: 401,
      body: { reason: 'signature does not match' },
    });
    expect(published).toHaveLength(0);
  });
});
