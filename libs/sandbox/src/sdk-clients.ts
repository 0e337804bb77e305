import { createRequire } from 'node:module';
import { Client as HubSpotClient } from '@hubspot/api-client';
import type * as MailchimpSdk from '@mailchimp/mailchimp_marketing';
import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { CreateAxiosDefaults } from 'axios';
import { RestliClient } from 'linkedin-api-client';
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';

export type MailchimpClient = typeof MailchimpSdk & { basePath: string };
const MailchimpApiClient = createRequire(__filename)(
  '@mailchimp/mailchimp_marketing/src/ApiClient',
) as new () => MailchimpClient;

/**
 * The official SendGrid SDK aimed at `baseUrl` (a FakeSendGrid, or https://api.sendgrid.com). `MailService` sends
 * through `@sendgrid/client`'s `Client`, which hands its default request (with `baseUrl`) to axios.
 */
export function sendGridMailFor(baseUrl: string, apiKey: string): MailService {
  const client = new Client();
  client.setApiKey(apiKey);
  // setApiKey resets the base URL to SendGrid's region host, so ours must come after it.
  client.setDefaultRequest('baseUrl', baseUrl);
  const mail = new MailService();
  mail.setClient(client);
  return mail;
}

/**
 * Twilio's own HTTP client, but every request goes to `baseUrl` (path and query kept): the SDK builds absolute
 * `https://api.twilio.com/...` URLs and has no base-URL option, only a pluggable `httpClient`.
 */
export class RedirectingRequestClient extends twilio.RequestClient {
  constructor(
    private readonly target: string,
    private readonly extraHeaders: Record<string, string> = {},
  ) {
    super();
  }

  override request<TData>(opts: TwilioRequestClient.RequestOptions<TData>): Promise<TwilioResponse<TData>> {
    const url = new URL(opts.uri);
    return super.request<TData>({
      ...opts,
      uri: `${this.target.replace(/\/+$/, '')}${url.pathname}${url.search}`,
      headers: { ...opts.headers, ...this.extraHeaders },
    });
  }
}

/**
 * The official Twilio SDK aimed at `baseUrl` (a FakeTwilio). `headers` go on every request, e.g. the fake's
 * `I-Twilio-Idempotency-Token`, which the SDK's `messages.create` has no parameter for.
 */
export function twilioClientFor(
  baseUrl: string,
  accountSid: string,
  authToken: string,
  options: { headers?: Record<string, string> } = {},
): twilio.Twilio {
  return twilio(accountSid, authToken, {
    httpClient: new RedirectingRequestClient(baseUrl, options.headers),
  });
}

const LINKEDIN_API = 'https://api.linkedin.com';

/**
 * LinkedIn's official Rest.li client (`linkedin-api-client`) with every request sent to `baseUrl` (a FakeLinkedIn)
 * instead of api.linkedin.com, path and query kept: the SDK builds absolute URLs and has no base-URL option, but
 * exposes its axios instance.
 */
export function linkedInClientFor(baseUrl: string, config: CreateAxiosDefaults = {}): RestliClient {
  const client = new RestliClient(config);
  const target = baseUrl.replace(/\/+$/, '');
  if (target !== LINKEDIN_API)
    client.axiosInstance.interceptors.request.use((request) => {
      if (request.url?.startsWith(LINKEDIN_API))
        request.url = `${target}${request.url.slice(LINKEDIN_API.length)}`;
      return request;
    });
  return client;
}

/**
 * The official HubSpot SDK aimed at `baseUrl` (a FakeHubSpot, or https://api.hubapi.com) with a private app's token.
 * No retries of its own: a test sees every answer, and sync's connector retries with its own budget.
 */
export function hubSpotClientFor(baseUrl: string, accessToken: string): HubSpotClient {
  return new HubSpotClient({ accessToken, basePath: baseUrl.replace(/\/+$/, ''), numberOfApiCallRetries: 0 });
}

/** An instance of the official Mailchimp SDK (its module is one shared client) aimed at `baseUrl` with an API key. */
export function mailchimpClientFor(baseUrl: string, apiKey: string): MailchimpClient {
  const client = new MailchimpApiClient();
  client.basePath = `${baseUrl.replace(/\/+$/, '')}/3.0`;
  client.setConfig({ apiKey });
  return client;
}
