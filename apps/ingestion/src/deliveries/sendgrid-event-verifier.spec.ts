import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { SendGridEventVerifier } from './sendgrid-event-verifier';
import type { SignedRequest } from '../webhooks/signatures/signature';

const now = 1_717_236_000_000;
const window = { maxAgeMs: 24 * 3_600_000, maxAheadMs: 300_000 };

function keyPair(): { privateKey: KeyObject; verificationKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  // As SendGrid's settings page shows it: base64 of the DER (SubjectPublicKeyInfo), no PEM armour.
  return {
    privateKey,
    verificationKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

const ours = keyPair();
const body = Buffer.from(
  '[{"email":"ada@example.com","event":"bounce","sg_event_id":"e1","timestamp":1717235990}]\r\n',
);

function signed(
  options: { key?: KeyObject; timestamp?: number; rawBody?: Buffer; signedBody?: Buffer } = {},
): SignedRequest {
  const timestamp = String(options.timestamp ?? Math.floor(now / 1000));
  const signedBody = options.signedBody ?? options.rawBody ?? body;
  const signature = sign(
    'sha256',
    Buffer.concat([Buffer.from(timestamp), signedBody]),
    options.key ?? ours.privateKey,
  ).toString('base64');
  return {
    method: 'POST',
    url: 'https://in.tributary.example/v1/webhooks/sendgrid/ws_demo/events',
    rawBody: options.rawBody ?? body,
    headers: {
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': timestamp,
    },
  };
}

describe('SendGridEventVerifier', () => {
  const verifier = new SendGridEventVerifier();

  it('accepts ECDSA P-256 over timestamp + raw body with the workspace’s verification key', () => {
    expect(verifier.verify(signed(), [ours.verificationKey], now, window)).toEqual({
      ok: true,
      signedAt: Math.floor(now / 1000) * 1000,
    });
  });

  it('refuses another key’s signature, a tampered body and a re-serialised body', () => {
    const other = keyPair();
    expect(verifier.verify(signed({ key: other.privateKey }), [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
    const tampered = signed({
      rawBody: Buffer.from(body.toString().replace('bounce', 'delivered')),
      signedBody: body,
    });
    expect(verifier.verify(tampered, [ours.verificationKey], now, window).ok).toBe(false);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString())));
    expect(
      verifier.verify(
        signed({ rawBody: reserialised, signedBody: body }),
        [ours.verificationKey],
        now,
        window,
      ).ok,
    ).toBe(false);
  });

  it('refuses a timestamp the signature does not cover', () => {
    const request = signed();
    const moved = {
      ...request,
      headers: {
        ...request.headers,
        'x-twilio-email-event-webhook-timestamp': String(Math.floor(now / 1000) - 1),
      },
    };
    expect(verifier.verify(moved, [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
  });

  it('refuses a signature older than the window or too far ahead, however valid', () => {
    const old = signed({ timestamp: Math.floor((now - window.maxAgeMs) / 1000) - 1 });
    expect(verifier.verify(old, [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'signature timestamp is older than 24 hours',
    });
    const ahead = signed({ timestamp: Math.floor((now + window.maxAheadMs) / 1000) + 1 });
    expect(verifier.verify(ahead, [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'signature timestamp is more than 300 seconds ahead',
    });
    const lastHour = signed({ timestamp: Math.floor((now - window.maxAgeMs) / 1000) + 3600 });
    expect(verifier.verify(lastHour, [ours.verificationKey], now, window).ok).toBe(true);
  });

  it('refuses missing headers, a malformed timestamp and a signature that is not base64 DER', () => {
    const request = signed();
    expect(verifier.verify({ ...request, headers: {} }, [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'missing X-Twilio-Email-Event-Webhook-Signature header',
    });
    const noTime = { ...request, headers: { 'x-twilio-email-event-webhook-signature': 'abc' } };
    expect(verifier.verify(noTime, [ours.verificationKey], now, window).ok).toBe(false);
    const garbage = {
      ...request,
      headers: { ...request.headers, 'x-twilio-email-event-webhook-signature': '%%%' },
    };
    expect(verifier.verify(garbage, [ours.verificationKey], now, window)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
  });

  it('takes any of several keys (rotation) and passes over a key that cannot be read', () => {
    const next = keyPair();
    expect(
      verifier.verify(
        signed({ key: next.privateKey }),
        ['not-a-key', ours.verificationKey, next.verificationKey],
        now,
        window,
      ).ok,
    ).toBe(true);
    expect(verifier.verify(signed(), ['not-a-key'], now, window).ok).toBe(false);
  });
});
