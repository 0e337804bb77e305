import type { FieldProblem } from '../leads/field-problem';
import type { WebhookSourceName } from './webhooks.config';
import type { SourceMappings } from './mapping/event-mapping';
import { hubSpotMappings } from './mapping/hubspot.mappings';
import { shopifyMappings } from './mapping/shopify.mappings';
import { headerValue, type SignedRequest, type WebhookVerifier } from './signatures/signature';
import { HubSpotWebhookVerifier } from './signatures/hubspot-webhook-verifier';
import { ShopifyWebhookVerifier } from './signatures/shopify-webhook-verifier';

/** One event inside a verified delivery: its dedupe id (stable across the sender's retries), type and payload. */
export interface WebhookEvent {
  deliveryId: string;
  eventType: string;
  payload: unknown;
}

export type EnvelopeResult = { ok: true; events: WebhookEvent[] } | { ok: false; problems: FieldProblem[] };

/** How a source signs, frames and maps its webhooks. */
export interface WebhookSource {
  verifier: WebhookVerifier;
  mappings: SourceMappings;
  events(body: unknown, request: SignedRequest): EnvelopeResult;
}

const HUBSPOT_MAX_EVENTS = 100;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const idPart = (value: unknown): value is string | number =>
  (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.length > 0);

/** HubSpot sends a JSON array of up to 100 subscription events per request. */
function hubSpotEvents(body: unknown): EnvelopeResult {
  if (!Array.isArray(body) || body.length === 0 || body.length > HUBSPOT_MAX_EVENTS) {
    return {
      ok: false,
      problems: [{ field: '(body)', reason: `must be an array of 1 to ${HUBSPOT_MAX_EVENTS} events` }],
    };
  }
  const problems: FieldProblem[] = [];
  const events: WebhookEvent[] = [];
  body.forEach((event: unknown, i) => {
    if (!isObject(event)) {
      problems.push({ field: `[${i}]`, reason: 'must be an object' });
      return;
    }
    for (const key of ['eventId', 'portalId', 'objectId'] as const) {
      if (!idPart(event[key]))
        problems.push({ field: `[${i}].${key}`, reason: 'must be a number or string id' });
    }
    const type = event['subscriptionType'];
    if (typeof type !== 'string' || type.length === 0 || type.length > 100) {
      problems.push({ field: `[${i}].subscriptionType`, reason: 'must be a non-empty string' });
      return;
    }
    // HubSpot documents eventId as not unique on its own; with the portal, subscription and object it identifies
    // the event across retries (attemptNumber changes, these do not).
    const parts = [event['portalId'], event['subscriptionId'] ?? '', event['eventId'], event['objectId']];
    events.push({ deliveryId: parts.map(String).join(':'), eventType: type, payload: event });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, events };
}

/** Shopify sends one resource per request; the topic and the delivery's identity are headers. */
function shopifyEvents(body: unknown, request: SignedRequest): EnvelopeResult {
  const topic = headerValue(request, 'x-shopify-topic');
  // X-Shopify-Event-Id stays the same when one event reaches a shop's several subscriptions; else the webhook id.
  const id = headerValue(request, 'x-shopify-event-id') ?? headerValue(request, 'x-shopify-webhook-id');
  const problems: FieldProblem[] = [];
  if (!topic || topic.length > 100) problems.push({ field: 'X-Shopify-Topic', reason: 'header is required' });
  if (!id || id.length > 200) problems.push({ field: 'X-Shopify-Webhook-Id', reason: 'header is required' });
  if (problems.length > 0 || !topic || !id) return { ok: false, problems };
  return { ok: true, events: [{ deliveryId: `${topic}:${id}`, eventType: topic, payload: body }] };
}

/** Every webhook source the edge accepts, by the `:source` path segment. */
export const webhookSources: Readonly<Record<WebhookSourceName, WebhookSource>> = {
  hubspot: { verifier: new HubSpotWebhookVerifier(), mappings: hubSpotMappings, events: hubSpotEvents },
  shopify: { verifier: new ShopifyWebhookVerifier(), mappings: shopifyMappings, events: shopifyEvents },
};
