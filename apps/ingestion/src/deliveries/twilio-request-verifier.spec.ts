import { createHmac } from 'node:crypto';
import { formParams, TwilioRequestVerifier } from './twilio-request-verifier';
import type { SignedRequest } from '../webhooks/signatures/signature';

const authToken = 'twilio-auth-token';
const url = 'https://in.tributary.example/v1/webhooks/twilio/ws_demo/status?messageKey=enr%3A0%3Ahello%3A1';
const params = { MessageSid: `SM${'a'.repeat(32)}`, MessageStatus: 'delivered', To: '+4915112345678' };

/** Twilio's scheme, written out: HMAC-SHA1 of the URL then each parameter's name and value, in name order. */
function twilioSignature(token: string, signedUrl: string, form: Record<string, string>): string {
  const data = Object.keys(form)
    .sort()
    .reduce((acc, key) => acc + key + form[key], signedUrl);
  return createHmac('sha1', token).update(data).digest('base64');
}

function signed(
  overrides: { token?: string; url?: string; form?: Record<string, string> } = {},
): SignedRequest {
  const form = overrides.form ?? params;
  return {
    method: 'POST',
    url: overrides.url ?? url,
    rawBody: Buffer.from(new URLSearchParams(form).toString()),
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-twilio-signature': twilioSignature(overrides.token ?? authToken, url, form),
    },
  };
}

describe('TwilioRequestVerifier', () => {
  const verifier = new TwilioRequestVerifier();

  it('accepts HMAC-SHA1 of the full URL (query included) and the sorted form parameters', () => {
    expect(verifier.verify(signed(), [authToken])).toEqual({ ok: true });
  });

  it('refuses another token, a changed parameter and another URL (a message key swapped in the query)', () => {
    expect(verifier.verify(signed({ token: 'other' }), [authToken])).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
    const changed = {
      ...signed(),
      rawBody: Buffer.from(new URLSearchParams({ ...params, MessageStatus: 'failed' }).toString()),
    };
    expect(verifier.verify(changed, [authToken]).ok).toBe(false);
    const elsewhere = { ...signed(), url: url.replace('enr%3A0', 'enr%3A9') };
    expect(verifier.verify(elsewhere, [authToken]).ok).toBe(false);
  });

  it('refuses a missing signature and a body that is not a form', () => {
    expect(
      verifier.verify({ ...signed(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }, [
        authToken,
      ]),
    ).toEqual({
      ok: false,
      reason: 'missing X-Twilio-Signature header',
    });
    const json = { ...signed(), headers: { ...signed().headers, 'content-type': 'application/json' } };
    expect(verifier.verify(json, [authToken]).ok).toBe(false);
  });

  it('takes either of two auth tokens (rotation to a secondary token)', () => {
    expect(verifier.verify(signed({ token: 'secondary' }), [authToken, 'secondary']).ok).toBe(true);
  });

  it('reads the form as Twilio posts it: + and %-escapes decoded', () => {
    expect(formParams(Buffer.from('Body=Stop+it%21&From=%2B4915112345678'))).toEqual({
      Body: 'Stop it!',
      From: '+4915112345678',
    });
  });
});
