import { ConfigError } from '@tributary/config';
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

  it('bounds how old an unsigned-time delivery may be: 24 hours by default, 5 to 168', () => {
    expect(loadIngestionConfig({ HTTP_PORT: '0' }).WEBHOOK_MAX_AGE_HOURS).toBe(24);
    expect(loadIngestionConfig({ HTTP_PORT: '0', WEBHOOK_MAX_AGE_HOURS: '48' }).WEBHOOK_MAX_AGE_HOURS).toBe(
      48,
    );
    // Under 5 hours Shopify's own last retries (8 over 4 hours) would be refused; over a week, replays.
    for (const bad of ['4', '169', 'day', '1.5']) {
      expect(() => loadIngestionConfig({ HTTP_PORT: '0', WEBHOOK_MAX_AGE_HOURS: bad })).toThrow(
        /WEBHOOK_MAX_AGE_HOURS/,
      );
    }
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
