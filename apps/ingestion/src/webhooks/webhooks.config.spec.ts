import { ConfigError } from '@tributary/platform';
import { loadIngestionConfig } from '../config';

describe('webhook and lead configuration', () => {
  it('parses workspace:source:secret entries (secrets may contain colons) and required consents', () => {
    const config = loadIngestionConfig({
      HTTP_PORT: '0',
      WEBHOOK_SECRETS: 'ws_demo:hubspot:s1, ws_demo:shopify:a:b',
      LEAD_REQUIRED_CONSENTS: 'ws_demo:email_marketing,ws_demo:privacy_policy,ws_x:terms',
    });
    expect(config.WEBHOOK_SECRETS).toEqual([
      { workspaceId: 'ws_demo', source: 'hubspot', secret: 's1' },
      { workspaceId: 'ws_demo', source: 'shopify', secret: 'a:b' },
    ]);
    expect(config.LEAD_REQUIRED_CONSENTS).toEqual({
      ws_demo: ['email_marketing', 'privacy_policy'],
      ws_x: ['terms'],
    });
  });

  it('defaults to no webhooks and no required consents', () => {
    const config = loadIngestionConfig({ HTTP_PORT: '0' });
    expect(config.WEBHOOK_SECRETS).toEqual([]);
    expect(config.LEAD_REQUIRED_CONSENTS).toEqual({});
  });

  it('names bad entries at boot', () => {
    expect(() =>
      loadIngestionConfig({ HTTP_PORT: '0', WEBHOOK_SECRETS: 'ws:salesforce:x,ws:hubspot' }),
    ).toThrow(ConfigError);
    expect(() => loadIngestionConfig({ HTTP_PORT: '0', WEBHOOK_SECRETS: 'ws:salesforce:x' })).toThrow(
      /WEBHOOK_SECRETS: unknown source "salesforce"/,
    );
  });
});
