import {
  base64SignatureMatches,
  headerValue,
  hmacSha256,
  type SignedRequest,
  type Verification,
  type WebhookVerifier,
} from './signature';

/** HubSpot rejects nothing older: requests signed more than 5 minutes ago are replays or badly delayed. */
export const HUBSPOT_MAX_AGE_MS = 5 * 60_000;

// HubSpot signs the URI with these escapes decoded (its v3 validation guide lists exactly these).
const DECODED_IN_SIGNED_URI: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function hubSpotSignedUri(url: string): string {
  return url.replace(
    /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi,
    (m) => DECODED_IN_SIGNED_URI[m.toUpperCase()] ?? m,
  );
}

function hubSpotDigestV3(
  secret: string,
  request: Pick<SignedRequest, 'method' | 'url' | 'rawBody'>,
  timestamp: string,
): Buffer {
  return hmacSha256(
    secret,
    request.method.toUpperCase(),
    hubSpotSignedUri(request.url),
    request.rawBody,
    timestamp,
  );
}

/** The v3 signature HubSpot sends: base64 HMAC-SHA256 of method + URI + body + timestamp with the app secret. */
export function hubSpotSignatureV3(
  secret: string,
  request: Pick<SignedRequest, 'method' | 'url' | 'rawBody'>,
  timestamp: string,
): string {
  return hubSpotDigestV3(secret, request, timestamp).toString('base64');
}

/** Verifies `X-HubSpot-Signature-v3` and the freshness of `X-HubSpot-Request-Timestamp` (epoch ms). */
export class HubSpotWebhookVerifier implements WebhookVerifier {
  verify(request: SignedRequest, secrets: readonly string[], now: number): Verification {
    const signature = headerValue(request, 'x-hubspot-signature-v3');
    const timestamp = headerValue(request, 'x-hubspot-request-timestamp');
    if (!signature) return { ok: false, reason: 'missing X-HubSpot-Signature-v3 header' };
    if (!timestamp || !/^\d{1,15}$/.test(timestamp)) {
      return { ok: false, reason: 'missing or malformed X-HubSpot-Request-Timestamp header' };
    }
    // Future timestamps beyond the same window are refused too: they would stay "fresh" and replayable longer.
    if (Math.abs(now - Number(timestamp)) > HUBSPOT_MAX_AGE_MS) {
      return { ok: false, reason: 'request timestamp is older than 5 minutes' };
    }
    const matches = secrets.some((secret) =>
      base64SignatureMatches(signature, hubSpotDigestV3(secret, request, timestamp)),
    );
    return matches ? { ok: true } : { ok: false, reason: 'signature does not match' };
  }
}
