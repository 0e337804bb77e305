import { loadIngestionConfig } from '../config';

describe('delivery webhook secrets', () => {
  it('takes a SendGrid verification key (base64 DER) and a Twilio auth token per workspace', () => {
    const key = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+ab/cd==';
    const config = loadIngestionConfig({
      HTTP_PORT: '0',
      WEBHOOK_SECRETS: `ws_demo:sendgrid:${key},ws_demo:twilio:tok1,ws_demo:twilio:tok2`,
    });
    expect(config.WEBHOOK_SECRETS).toEqual([
      { workspaceId: 'ws_demo', source: 'sendgrid', secret: key },
      { workspaceId: 'ws_demo', source: 'twilio', secret: 'tok1' },
      { workspaceId: 'ws_demo', source: 'twilio', secret: 'tok2' },
    ]);
  });

  it('names the delivery sources among the known ones when a source is unknown', () => {
    expect(() => loadIngestionConfig({ HTTP_PORT: '0', WEBHOOK_SECRETS: 'ws:mailgun:x' })).toThrow(
      /unknown source "mailgun" \(known: hubspot, shopify, sendgrid, twilio\)/,
    );
  });
});
