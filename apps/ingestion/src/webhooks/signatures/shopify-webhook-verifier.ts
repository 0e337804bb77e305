import {
  base64SignatureMatches,
  headerValue,
  hmacSha256,
  type SignedRequest,
  type Verification,
  type WebhookVerifier,
} from './signature';

/** The signature Shopify sends in `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body. */
export function shopifyHmac(secret: string, rawBody: Buffer): string {
  return hmacSha256(secret, rawBody).toString('base64');
}

/**
 * Verifies `X-Shopify-Hmac-Sha256`, which covers the body alone: no time and no header is signed. So the intake
 * dates a delivery by its body (WEBHOOK_MAX_AGE_HOURS), dedupes it by the body's digest and checks X-Shopify-Topic
 * against the body (webhook-sources.ts).
 */
export class ShopifyWebhookVerifier implements WebhookVerifier {
  verify(request: SignedRequest, secrets: readonly string[]): Verification {
    const signature = headerValue(request, 'x-shopify-hmac-sha256');
    if (!signature) return { ok: false, reason: 'missing X-Shopify-Hmac-Sha256 header' };
    const matches = secrets.some((secret) =>
      base64SignatureMatches(signature, hmacSha256(secret, request.rawBody)),
    );
    return matches ? { ok: true } : { ok: false, reason: 'signature does not match' };
  }
}
