import twilio from 'twilio';
import { headerValue, type SignedRequest, type Verification } from '../webhooks/signatures/signature';

/** A form body as Twilio signs it: each parameter once (Twilio sends no repeated names to these webhooks). */
export function formParams(rawBody: Buffer): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(rawBody.toString('utf8')));
}

/**
 * Twilio's `X-Twilio-Signature` (HMAC-SHA1 with the auth token over the full URL it called, query included, then each
 * POST parameter's name and value in name order), checked with the official SDK's `validateRequest`, against each of
 * the workspace's auth tokens (a secondary token while one is rotated). Twilio signs no time: a replay is absorbed by
 * the edge's dedupe of MessageSid + status.
 */
export class TwilioRequestVerifier {
  verify(request: SignedRequest, authTokens: readonly string[]): Verification {
    const signature = headerValue(request, 'x-twilio-signature');
    if (!signature) return { ok: false, reason: 'missing X-Twilio-Signature header' };
    const contentType = headerValue(request, 'content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded'))
      return {
        ok: false,
        reason: 'Twilio signs form posts only: content-type must be application/x-www-form-urlencoded',
      };
    const params = formParams(request.rawBody);
    const matches = authTokens.some((token) => twilio.validateRequest(token, signature, request.url, params));
    return matches ? { ok: true } : { ok: false, reason: 'signature does not match' };
  }
}
