import { z } from 'zod';

/** Webhook sources the edge knows how to verify and map. */
export const WEBHOOK_SOURCES = ['hubspot', 'shopify'] as const;
export type WebhookSourceName = (typeof WEBHOOK_SOURCES)[number];

export function isWebhookSource(value: string): value is WebhookSourceName {
  return (WEBHOOK_SOURCES as readonly string[]).includes(value);
}

/**
 * Message providers whose delivery feedback the edge verifies (deliveries/): the secret is SendGrid's Event Webhook
 * verification key (base64 DER, as its settings page shows it) or Twilio's auth token.
 */
export const DELIVERY_WEBHOOK_SOURCES = ['sendgrid', 'twilio'] as const;
export type DeliveryWebhookSourceName = (typeof DELIVERY_WEBHOOK_SOURCES)[number];

const isSecretSource = (value: string): value is WebhookSourceName | DeliveryWebhookSourceName =>
  isWebhookSource(value) || (DELIVERY_WEBHOOK_SOURCES as readonly string[]).includes(value);

/** One signing secret of a workspace for a source (several per pair allow rotation). */
export interface WebhookSecret {
  workspaceId: string;
  source: WebhookSourceName | DeliveryWebhookSourceName;
  secret: string;
}

// "ws:source:secret" entries; the secret is everything after the second colon, so it may contain colons.
const webhookSecrets = z
  .string()
  .default('')
  .transform((spec, ctx): WebhookSecret[] => {
    const secrets: WebhookSecret[] = [];
    for (const entry of spec
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [workspaceId, source, ...rest] = entry.split(':');
      const secret = rest.join(':');
      if (!workspaceId || !source || !secret) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry.split(':')[0]}:…" is not workspace:source:secret`,
        });
      } else if (!isSecretSource(source)) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown source "${source}" (known: ${[...WEBHOOK_SOURCES, ...DELIVERY_WEBHOOK_SOURCES].join(', ')})`,
        });
      } else {
        secrets.push({ workspaceId, source, secret });
      }
    }
    return secrets;
  });

// "ws:purpose" pairs: consents a workspace's lead forms must collect (granted) before a lead is accepted.
const requiredConsents = z
  .string()
  .default('')
  .transform((spec, ctx): Record<string, string[]> => {
    const byWorkspace: Record<string, string[]> = {};
    for (const entry of spec
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [workspaceId, purpose, extra] = entry.split(':');
      if (!workspaceId || !purpose || extra !== undefined) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not workspace:consent` });
        continue;
      }
      (byWorkspace[workspaceId] ??= []).push(purpose);
    }
    return byWorkspace;
  });

/** Configuration keys of inbound webhooks and lead capture. */
export const webhooksConfigShape = {
  /**
   * Signing secrets, "ws_demo:hubspot:secret1,ws_demo:shopify:secret2" (until the key store holds them); SendGrid's
   * verification key and Twilio's auth token too ("ws_demo:sendgrid:MFkw...,ws_demo:twilio:token").
   */
  WEBHOOK_SECRETS: webhookSecrets,
  /**
   * Public base URL senders call (e.g. https://in.tributary.io), for HubSpot v3 signatures, which cover the full
   * URL; unset = rebuilt from the request's protocol and Host header.
   */
  WEBHOOK_PUBLIC_BASE_URL: z.string().url().optional(),
  /**
   * How old a delivery may be when its signature holds no time (Shopify's signs the body only): its body's
   * updated_at / created_at, else X-Shopify-Triggered-At. Shopify retries for 4 hours (8 attempts), so 5 is the
   * least that still takes its last retry; a week is the most (and DEDUPE_TTL_HOURS caps it at run time).
   */
  WEBHOOK_MAX_AGE_HOURS: z.coerce.number().int().min(5).max(168).default(24),
  /** Consents each workspace's lead forms require, "ws_demo:email_marketing,ws_demo:privacy_policy". */
  LEAD_REQUIRED_CONSENTS: requiredConsents,
};
