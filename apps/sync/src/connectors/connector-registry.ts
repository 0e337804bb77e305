import { z } from 'zod';
import type { ChangeSource, ConnectorDescriptor, ConnectorObject, RecordWriter } from './connector';
import { HubSpotRecordWriter } from './hubspot/hubspot-record-writer';
import { HUBSPOT, HubSpotChangeSource } from './hubspot/hubspot.connector';
import { MAILCHIMP, MailchimpChangeSource, MailchimpRecordWriter } from './mailchimp/mailchimp.connector';
import { RateBudget, type RateBudgetCollection } from './rate-budget';

/** What a connection's credentials hold, as checked by its connector's schema. */
export type ConnectorCredentials = Record<string, string>;

/** Each connector's credentials: a bad one is a field error when the connection is created. */
export const CREDENTIALS: Readonly<Record<string, z.ZodType<ConnectorCredentials>>> = {
  hubspot: z.object({ accessToken: z.string().min(1).max(4_000) }).strict(),
  mailchimp: z
    .object({
      apiKey: z
        .string()
        .regex(/^[0-9a-f]{8,64}-[a-z]+\d+$/, 'a Mailchimp API key: <key>-<data center>, e.g. …-us21'),
      listId: z.string().regex(/^[0-9a-z]{1,32}$/, "the audience's list id"),
    })
    .strict(),
};

/** The connectors sync offers, and how each reaches its vendor. */
export interface ConnectorRegistry {
  descriptor(kind: string): ConnectorDescriptor | undefined;
  /** The connector's object by vendor name (`contacts`). */
  object(kind: string, vendorObject: string): ConnectorObject | undefined;
  source(kind: string, credentials: ConnectorCredentials): ChangeSource;
  writer(kind: string, credentials: ConnectorCredentials): RecordWriter;
}

export const CONNECTOR_REGISTRY = Symbol('CONNECTOR_REGISTRY');

export const CONNECTORS: readonly ConnectorDescriptor[] = [HUBSPOT, MAILCHIMP];

/**
 * The registry of the configured vendors' APIs. With `budgets` (the store's collection), HubSpot's polls and writes
 * take from one request budget per HubSpot account shared by every replica; without, each process keeps its own.
 */
export function connectorRegistry(
  urls: { hubspot: string; mailchimp?: string },
  options: { budgets?: RateBudgetCollection; share?: number } = {},
): ConnectorRegistry {
  const mailchimpUrl = urls.mailchimp ?? 'https://{dc}.api.mailchimp.com';
  const descriptor = (kind: string) => CONNECTORS.find((c) => c.kind === kind);
  const hubspot = options.budgets
    ? { budget: new RateBudget(options.budgets, HUBSPOT, { share: options.share }) }
    : {};
  return {
    descriptor,
    object: (kind, vendorObject) => descriptor(kind)?.objects.find((o) => o.vendorObject === vendorObject),
    source: (kind, credentials) => {
      if (kind === HUBSPOT.kind)
        return new HubSpotChangeSource(urls.hubspot, credentials['accessToken'] ?? '', hubspot);
      if (kind === MAILCHIMP.kind)
        return new MailchimpChangeSource(mailchimpUrl, mailchimpCredentials(credentials));
      throw new Error(`no connector '${kind}'`);
    },
    writer: (kind, credentials) => {
      if (kind === HUBSPOT.kind)
        return new HubSpotRecordWriter(urls.hubspot, credentials['accessToken'] ?? '', hubspot);
      if (kind === MAILCHIMP.kind)
        return new MailchimpRecordWriter(mailchimpUrl, mailchimpCredentials(credentials));
      throw new Error(`no writer for connector '${kind}' yet`);
    },
  };
}

const mailchimpCredentials = (credentials: ConnectorCredentials) => ({
  apiKey: credentials['apiKey'] ?? '',
  listId: credentials['listId'] ?? '',
});
