import { createRequire } from 'node:module';
import type * as MailchimpSdk from '@mailchimp/mailchimp_marketing';

/** One client of the official SDK: its module is a single shared client, so each connection makes its own. */
export type MailchimpClient = typeof MailchimpSdk & { basePath: string };

const ApiClient = createRequire(__filename)(
  '@mailchimp/mailchimp_marketing/src/ApiClient',
) as new () => MailchimpClient;

/**
 * The Marketing API for an API key (`<key>-<dc>`): `baseUrl` may name the key's data center as `{dc}`
 * (`https://{dc}.api.mailchimp.com`, the real API) or be a fixed address (a FakeMailchimp).
 */
export function mailchimpClient(baseUrl: string, apiKey: string): MailchimpClient {
  const dc = apiKey.slice(apiKey.lastIndexOf('-') + 1);
  const client = new ApiClient();
  client.basePath = `${baseUrl.replace('{dc}', dc).replace(/\/+$/, '')}/3.0`;
  // No `server`: the SDK would put it in place of the word "server" in the base path.
  client.setConfig({ apiKey });
  return client;
}
