import { createHmac } from 'node:crypto';
import {
  HUBSPOT_MAX_AGE_MS,
  HubSpotWebhookVerifier,
  hubSpotSignatureV3,
  hubSpotSignedUri,
} from './hubspot-webhook-verifier';
import type { SignedRequest } from './signature';

const secret = 'hubspot-app-secret';
const now = 1_717_236_000_000;
const url = 'https://in.tributary.example/v1/webhooks/hubspot/ws_demo';
const rawBody = Buffer.from('[{"eventId":1,"subscriptionType":"contact.creation"}]');

function signed(
  overrides: { timestamp?: number; body?: Buffer; url?: string; secret?: string } = {},
): SignedRequest {
  const timestamp = String(overrides.timestamp ?? now);
  const request = { method: 'POST', url: overrides.url ?? url, rawBody: overrides.body ?? rawBody };
  return {
    ...request,
    headers: {
      'x-hubspot-signature-v3': hubSpotSignatureV3(overrides.secret ?? secret, request, timestamp),
      'x-hubspot-request-timestamp': timestamp,
    },
  };
}

describe('HubSpotWebhookVerifier (v3)', () => {
  const verifier = new HubSpotWebhookVerifier();

  it('accepts a request signed over method + URI + body + timestamp with the app secret', () => {
    expect(verifier.verify(signed(), [secret], now)).toEqual({ ok: true });
  });

  it('the signature is base64 HMAC-SHA256 of exactly that concatenation', () => {
    const expected = createHmac('sha256', secret)
      .update(`POST${url}${rawBody.toString()}${now}`)
      .digest('base64');
    expect(signed().headers['x-hubspot-signature-v3']).toBe(expected);
  });

  it('refuses a wrong secret, a tampered body and a different URL', () => {
    expect(verifier.verify(signed({ secret: 'other' }), [secret], now)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
    const tampered = { ...signed(), rawBody: Buffer.from(rawBody.toString().replace('1', '2')) };
    expect(verifier.verify(tampered, [secret], now).ok).toBe(false);
    const elsewhere = { ...signed(), url: url.replace('ws_demo', 'ws_other') };
    expect(verifier.verify(elsewhere, [secret], now).ok).toBe(false);
  });

  it('refuses a timestamp older than 5 minutes, even with a valid signature', () => {
    const old = signed({ timestamp: now - HUBSPOT_MAX_AGE_MS - 1 });
    expect(verifier.verify(old, [secret], now)).toEqual({
      ok: false,
      reason: 'request timestamp is older than 5 minutes',
    });
    expect(verifier.verify(signed({ timestamp: now - HUBSPOT_MAX_AGE_MS + 1000 }), [secret], now).ok).toBe(
      true,
    );
  });

  it('accepts a replay inside the window (dedupe, not the signature, makes its effect happen once)', () => {
    const request = signed();
    expect(verifier.verify(request, [secret], now).ok).toBe(true);
    expect(verifier.verify(request, [secret], now + 60_000).ok).toBe(true);
  });

  it('refuses missing headers, malformed timestamps and garbage signatures', () => {
    const request = signed();
    expect(verifier.verify({ ...request, headers: {} }, [secret], now)).toEqual({
      ok: false,
      reason: 'missing X-HubSpot-Signature-v3 header',
    });
    const noTime = { ...request, headers: { 'x-hubspot-signature-v3': 'abc' } };
    expect(verifier.verify(noTime, [secret], now).ok).toBe(false);
    const garbage = {
      ...request,
      headers: { ...request.headers, 'x-hubspot-signature-v3': '%%%not base64' },
    };
    expect(verifier.verify(garbage, [secret], now)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
  });

  it('accepts any of several secrets (rotation)', () => {
    expect(verifier.verify(signed({ secret: 'new-secret' }), [secret, 'new-secret'], now).ok).toBe(true);
  });

  it('signs the URI with the escapes HubSpot decodes', () => {
    expect(hubSpotSignedUri('https://h/x?redirect=https%3A%2F%2Fa%40b%2Fc&q=%20')).toBe(
      'https://h/x?redirect=https://a@b/c&q=%20',
    );
  });
});
