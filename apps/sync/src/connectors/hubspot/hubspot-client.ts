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

/**
 * The official SDK (`@hubspot/api-client`) for one of HubSpot's limit buckets: its limiter spaces calls at 90% of
 * `limit` (per client, so per process), and it retries 429 and 5xx itself. Search gets one call at a time, as its
 * per-second limit leaves no room for more.
 */
export function hubSpotClient(
  baseUrl: string,
  accessToken: string,
  bucket: keyof HubSpotBuckets,
  limit: HubSpotLimit,
  options: HubSpotClientOptions = {},
): Client {
  return new Client({
    accessToken,
    basePath: baseUrl.replace(/\/+$/, ''),
    numberOfApiCallRetries: options.retries ?? 3,
    limiterOptions: {
      minTime: Math.ceil(limit.perMs / (limit.requests * 0.9)),
      maxConcurrent: bucket === 'search' ? 1 : 4,
    },
  });
}
