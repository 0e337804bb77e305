import { createHmac } from 'node:crypto';
import { ShopifyWebhookVerifier, shopifyHmac } from './shopify-webhook-verifier';
import type { SignedRequest } from './signature';

const secret = 'shpss_webhook_secret';
const rawBody = Buffer.from('{"id":5461782921372,"email":"jon@example.com"}');

function signed(body = rawBody, key = secret): SignedRequest {
  return {
    method: 'POST',
    url: 'https://in.tributary.example/v1/webhooks/shopify/ws_demo',
    rawBody: body,
    headers: { 'x-shopify-hmac-sha256': shopifyHmac(key, body), 'x-shopify-topic': 'orders/create' },
  };
}

describe('ShopifyWebhookVerifier', () => {
  const verifier = new ShopifyWebhookVerifier();

  it('accepts base64 HMAC-SHA256 of the raw body', () => {
    expect(signed().headers['x-shopify-hmac-sha256']).toBe(
      createHmac('sha256', secret).update(rawBody).digest('base64'),
    );
    expect(verifier.verify(signed(), [secret])).toEqual({ ok: true });
  });

  it('refuses a wrong secret', () => {
    expect(verifier.verify(signed(rawBody, 'wrong'), [secret])).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
  });

  it('verifies the bytes, not the JSON: re-serialised JSON with the same meaning does not match', () => {
    const reformatted = Buffer.from(JSON.stringify(JSON.parse(rawBody.toString()), null, 2));
    expect(verifier.verify({ ...signed(), rawBody: reformatted }, [secret]).ok).toBe(false);
  });

  it('refuses a missing or truncated signature', () => {
    expect(verifier.verify({ ...signed(), headers: {} }, [secret])).toEqual({
      ok: false,
      reason: 'missing X-Shopify-Hmac-Sha256 header',
    });
    const sig = shopifyHmac(secret, rawBody);
    const truncated = { ...signed(), headers: { 'x-shopify-hmac-sha256': sig.slice(0, 20) } };
    expect(verifier.verify(truncated, [secret]).ok).toBe(false);
  });

  it('accepts a replayed delivery: no time is signed (the intake bounds its age and dedupes it)', () => {
    const request = signed();
    expect(verifier.verify(request, [secret]).ok).toBe(true);
    expect(verifier.verify(request, [secret]).ok).toBe(true);
  });
});
