import { EventWebhook, EventWebhookHeader } from '@sendgrid/eventwebhook';
import { headerValue, type SignedRequest, type Verification } from '../webhooks/signatures/signature';

type SendGridPublicKey = ReturnType<EventWebhook['convertPublicKeyToECDSA']>;

/** A signed time this far ahead of ours is refused: it would keep the bytes "fresh" for longer than the window. */
export interface FreshnessWindow {
  maxAgeMs: number;
  maxAheadMs: number;
}

/**
 * SendGrid's signed Event Webhook, checked with its official helper (`@sendgrid/eventwebhook`): ECDSA P-256 over the
 * `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body, against the workspace's verification keys
 * (base64 DER, as SendGrid's settings page shows them; several while one is rotated). The signed timestamp must be
 * inside the window: SendGrid retries a batch for up to 24 hours, and the edge remembers event ids for longer, so a
 * replay inside the window is absorbed by dedupe and one outside it is refused here.
 */
export class SendGridEventVerifier {
  private readonly webhook = new EventWebhook();
  // Parsing a key costs more than a verification: each configured key is parsed once.
  private readonly keys = new Map<string, SendGridPublicKey | null>();

  verify(
    request: SignedRequest,
    verificationKeys: readonly string[],
    now: number,
    window: FreshnessWindow,
  ): Verification & { signedAt?: number } {
    const signatureHeader = EventWebhookHeader.SIGNATURE();
    const timestampHeader = EventWebhookHeader.TIMESTAMP();
    const signature = headerValue(request, signatureHeader);
    const timestamp = headerValue(request, timestampHeader);
    if (!signature) return { ok: false, reason: `missing ${signatureHeader} header` };
    if (!timestamp || !/^\d{1,12}$/.test(timestamp))
      return { ok: false, reason: `missing or malformed ${timestampHeader} header (unix seconds)` };
    const signedAt = Number(timestamp) * 1000;
    if (now - signedAt > window.maxAgeMs)
      return { ok: false, reason: `signature timestamp is older than ${window.maxAgeMs / 3_600_000} hours` };
    if (signedAt - now > window.maxAheadMs)
      return {
        ok: false,
        reason: `signature timestamp is more than ${window.maxAheadMs / 1000} seconds ahead`,
      };
    const matches = verificationKeys.some((key) => {
      const publicKey = this.publicKey(key);
      if (!publicKey) return false;
      try {
        return this.webhook.verifySignature(publicKey, request.rawBody, signature, timestamp);
      } catch {
        // Not base64 DER of an ECDSA signature: no match, like any other wrong signature.
        return false;
      }
    });
    return matches ? { ok: true, signedAt } : { ok: false, reason: 'signature does not match' };
  }

  private publicKey(key: string): SendGridPublicKey | null {
    if (!this.keys.has(key)) {
      let parsed: SendGridPublicKey | null;
      try {
        parsed = this.webhook.convertPublicKeyToECDSA(key);
      } catch {
        parsed = null;
      }
      this.keys.set(key, parsed);
    }
    return this.keys.get(key) ?? null;
  }
}
