import { createHash } from 'node:crypto';
import type { FieldProblem } from '../leads/field-problem';
import type { WebhookSourceName } from './webhooks.config';
import type { SourceMappings } from './mapping/event-mapping';
import { hubSpotMappings } from './mapping/hubspot.mappings';
import { shopifyMappings, shopifyTopicResources } from './mapping/shopify.mappings';
import { headerValue, type SignedRequest, type WebhookVerifier } from './signatures/signature';
import { HubSpotWebhookVerifier } from './signatures/hubspot-webhook-verifier';
import { ShopifyWebhookVerifier } from './signatures/shopify-webhook-verifier';

/**
 * One event inside a verified delivery: its dedupe id (from signed bytes only, stable across the sender's retries),
 * type and payload.
 */
export interface WebhookEvent {
  deliveryId: string;
  eventType: string;
  payload: unknown;
}

export type EnvelopeResult = { ok: true; events: WebhookEvent[] } | { ok: false; problems: FieldProblem[] };

/** When a delivery's content was made (epoch ms) and the field that says so, or why it cannot be told. */
export type ContentTime = { ok: true; field: string; at: number } | { ok: false; problem: FieldProblem };

/** How a source signs, frames and maps its webhooks. */
export interface WebhookSource {
  verifier: WebhookVerifier;
  mappings: SourceMappings;
  events(body: unknown, request: SignedRequest): EnvelopeResult;
  /**
   * For senders whose signature covers no time (Shopify): when the content was made, so that old signed bytes sent
   * again are refused. Absent where the verifier already bounds it (HubSpot signs its timestamp).
   */
  contentTime?(body: unknown, request: SignedRequest): ContentTime;
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

const GID = /^gid:\/\/shopify\/([A-Za-z]+)\//;

/**
 * Shopify signs the body only: X-Shopify-Topic is the sender's word, so it must agree with what the signed body is.
 * A full resource names its type in `admin_graphql_api_id`; a deletion is the id alone (no state, no times).
 */
function shopifyTopicMismatch(topic: string, body: Record<string, unknown>): FieldProblem | undefined {
  const [plural = '', action] = topic.split('/');
  const resource = shopifyTopicResources[plural];
  const mismatch = (why: string) => ({
    field: 'X-Shopify-Topic',
    reason: `${topic} does not match the signed body: ${why}`,
  });
  if (!resource) return mismatch('no resource type is known for it');
  const gid = body['admin_graphql_api_id'];
  const type = typeof gid === 'string' ? GID.exec(gid)?.[1] : undefined;
  if (action === 'delete') {
    if (Object.hasOwn(body, 'created_at') || Object.hasOwn(body, 'updated_at')) {
      return mismatch('it holds the resource’s state, a deletion only its id');
    }
    return gid === undefined || type === resource
      ? undefined
      : mismatch(`its admin_graphql_api_id is not a ${resource}`);
  }
  return type === resource ? undefined : mismatch(`its admin_graphql_api_id is not a ${resource}`);
}

/** Shopify sends one resource per request; the topic is a header, checked against the signed body. */
function shopifyEvents(body: unknown, request: SignedRequest): EnvelopeResult {
  const topic = headerValue(request, 'x-shopify-topic');
  if (!topic || topic.length > 100) {
    return { ok: false, problems: [{ field: 'X-Shopify-Topic', reason: 'header is required' }] };
  }
  // The identity of a delivery is the signed bytes, never X-Shopify-Webhook-Id / -Event-Id: a new header must not
  // make old bytes new. Shopify's retries send the original bytes, so they keep this id (and the event id from it).
  const digest = createHash('sha256').update(request.rawBody).digest('base64url');
  const mapping = shopifyMappings[topic];
  // Unmapped topics are ignored (202): nothing to protect, and their bodies are not judged.
  if (!mapping) {
    return { ok: true, events: [{ deliveryId: `${topic}:${digest}`, eventType: topic, payload: body }] };
  }
  if (!isObject(body)) return { ok: false, problems: [{ field: '(body)', reason: 'must be a JSON object' }] };
  const mismatch = shopifyTopicMismatch(topic, body);
  if (mismatch) return { ok: false, problems: [mismatch] };
  // One body takes effect once per kind of effect, whichever topic carries it: orders/create, orders/updated and
  // orders/paid with the same bytes say the same thing of one order. A lead and a customer record stay apart, since
  // Shopify may send customers/create and customers/update with the same body and either may come first.
  const effect = mapping.produces === 'leads.captured' ? 'lead' : mapping.objectType;
  return { ok: true, events: [{ deliveryId: `${effect}:${digest}`, eventType: topic, payload: body }] };
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO-8601 date-time with its offset, as Shopify writes them (Date.parse alone also takes "1" or "May 1"). */
function isoTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_DATE_TIME.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}

/**
 * The signed body's own time (Shopify stamps the resource at the change that fired the webhook, and retries send
 * the original body); only a body without one (a deletion) is dated by the unsigned X-Shopify-Triggered-At.
 */
function shopifyContentTime(body: unknown, request: SignedRequest): ContentTime {
  for (const field of ['updated_at', 'created_at']) {
    const at = isObject(body) ? isoTime(body[field]) : undefined;
    if (at !== undefined) return { ok: true, field, at };
  }
  const at = isoTime(headerValue(request, 'x-shopify-triggered-at'));
  if (at !== undefined) return { ok: true, field: 'X-Shopify-Triggered-At', at };
  return {
    ok: false,
    problem: {
      field: 'X-Shopify-Triggered-At',
      reason: 'header is required (ISO-8601) when the body has no updated_at or created_at',
    },
  };
}

/** Every webhook source the edge accepts, by the `:source` path segment. */
export const webhookSources: Readonly<Record<WebhookSourceName, WebhookSource>> = {
  hubspot: { verifier: new HubSpotWebhookVerifier(), mappings: hubSpotMappings, events: hubSpotEvents },
  shopify: {
    verifier: new ShopifyWebhookVerifier(),
    mappings: shopifyMappings,
    events: shopifyEvents,
    contentTime: shopifyContentTime,
  },
};
