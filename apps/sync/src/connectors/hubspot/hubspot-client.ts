import { createHash } from 'node:crypto';
import { Client } from '@hubspot/api-client';

/** One of HubSpot's request limits: `requests` per `perMs`. */
export interface HubSpotLimit {
  requests: number;
  perMs: number;
}

/** HubSpot's limits a client keeps under: searches (their own, per-second bucket), and every other request. */
export type HubSpotBuckets = Record<'search' | 'requests', HubSpotLimit>;

export interface HubSpotClientOptions {
  /** The SDK's `numberOfApiCallRetries`: tries per call, 429 and 5xx tried again as HubSpot advises (3 unless set). */
  retries?: number;
}

/** One client per account and bucket in a process: every poll and write of that account shares its limiter. */
const clients = new Map<string, Client>();

/**
 * The official SDK (`@hubspot/api-client`) for one of HubSpot's limit buckets: its limiter spaces calls at 90% of
 * `limit`, and it retries 429 and 5xx itself. Search gets one call at a time, as its per-second limit leaves no room
 * for more. The client is shared by everything in the process that calls the same account (the token), so a poll
 * and a write, or two connections of one portal, never add up past the limit; replicas each keep their own.
 */
export function hubSpotClient(
  baseUrl: string,
  accessToken: string,
  bucket: keyof HubSpotBuckets,
  limit: HubSpotLimit,
  options: HubSpotClientOptions = {},
): Client {
  const key = [
    baseUrl,
    createHash('sha256').update(accessToken).digest('base64url'),
    bucket,
    limit.requests,
    limit.perMs,
    options.retries ?? 3,
  ].join('|');
  const shared = clients.get(key);
  if (shared) return shared;
  const client = new Client({
    accessToken,
    basePath: baseUrl.replace(/\/+$/, ''),
    numberOfApiCallRetries: options.retries ?? 3,
    limiterOptions: {
      minTime: Math.ceil(limit.perMs / (limit.requests * 0.9)),
      maxConcurrent: bucket === 'search' ? 1 : 4,
    },
  });
  // The SDK keeps its limiter and retry decorators in one process-wide service that each new Client replaces, and
  // decorates an API when it is first reached: reaching them now, before another Client is made, gives them this
  // client's limiter (reached later, a search client's searches ran under another client's 100-per-10-s spacing).
  for (const api of [
    client.crm.objects.searchApi,
    client.crm.objects.batchApi,
    client.crm.objects.basicApi,
    client.crm.contacts.basicApi,
    client.crm.companies.basicApi,
  ])
    void api;
  clients.set(key, client);
  return client;
}
