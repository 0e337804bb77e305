import { createHash } from 'node:crypto';
import { Client } from '@hubspot/api-client';
import type { RateBudget } from '../rate-budget';

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
  /**
   * The account's request budget shared by every replica (rate-budget.ts): each HTTP request, the SDK's retries
   * included, takes from it first, and a 429 pauses it for everyone. It replaces the SDK's per-process limiter.
   */
  budget?: RateBudget;
}

/** The budget's key for a HubSpot account: a hash of the API and token (the token itself is never stored). */
export function hubSpotAccount(baseUrl: string, accessToken: string): string {
  return createHash('sha256').update(`${baseUrl}|${accessToken}`).digest('base64url').slice(0, 32);
}

/** HubSpot's 429 `policyName`s, as the connector's limit policies. */
const POLICY_OF_429: Readonly<Record<string, string>> = {
  SECONDLY: 'search',
  TEN_SECONDLY_ROLLING: 'requests',
  DAILY: 'daily',
};

/** The SDK's request and response as its middleware sees them (each API module has its own, alike, classes). */
interface SdkRequest {
  getUrl(): string;
  getHttpMethod(): string;
}
interface SdkResponse {
  httpStatusCode: number;
  headers: Record<string, string>;
  body: { text(): Promise<string> };
}

/**
 * SDK middleware spending `budget` for one account: a search takes from `search`, anything else from `requests`,
 * both from `daily` (HubSpot counts searches in the daily quota); a 429 pauses the policy it names for its
 * Retry-After (HubSpot seldom sends one: then the policy's window).
 */
function budgetMiddleware(budget: RateBudget, account: string) {
  return {
    pre: async (request: SdkRequest): Promise<SdkRequest> => {
      const search =
        request.getHttpMethod() === 'POST' && /\/search\/?$/.test(new URL(request.getUrl()).pathname);
      await budget.take(account, 'daily');
      await budget.take(account, search ? 'search' : 'requests');
      return request;
    },
    post: async (response: SdkResponse): Promise<SdkResponse> => {
      if (response.httpStatusCode === 429) {
        let policyName: unknown;
        try {
          ({ policyName } = JSON.parse(await response.body.text()) as { policyName?: unknown });
        } catch {
          policyName = undefined;
        }
        const policy = POLICY_OF_429[typeof policyName === 'string' ? policyName : 'SECONDLY'] ?? 'search';
        await budget.pause(account, policy, retryAfterMs(response.headers));
      }
      return response;
    },
  };
}

/** A Retry-After header (seconds or an HTTP date) in ms, if the answer has one. */
export function retryAfterMs(headers: Readonly<Record<string, string>> | undefined): number | undefined {
  const value = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'retry-after')?.[1];
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Each budget's number in the clients' cache keys. */
const budgetIds = new WeakMap<RateBudget, number>();
let budgetsSeen = 0;

function budgetIdOf(budget: RateBudget): string {
  let id = budgetIds.get(budget);
  if (id === undefined) budgetIds.set(budget, (id = ++budgetsSeen));
  return `budget-${id}`;
}

/** One client per account and bucket in a process: every poll and write of that account shares its limiter. */
const clients = new Map<string, Client>();

/**
 * The official SDK (`@hubspot/api-client`) for one of HubSpot's limit buckets. With `options.budget` (the seam where
 * any HubSpot caller, poll or write, plugs in) every request takes from the account's budget shared by all replicas;
 * without one, the SDK's own limiter spaces calls at 90% of `limit` in this process only (search one call at a time,
 * as its per-second limit leaves no room for more). The SDK retries 429 and 5xx itself `retries` times. The client
 * is shared by everything in the process that calls the same account (the token) the same way.
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
    options.budget ? budgetIdOf(options.budget) : 'own-limiter',
  ].join('|');
  const shared = clients.get(key);
  if (shared) return shared;
  const client = new Client({
    accessToken,
    basePath: baseUrl.replace(/\/+$/, ''),
    numberOfApiCallRetries: options.retries ?? 3,
    ...(options.budget
      ? { middleware: [budgetMiddleware(options.budget, hubSpotAccount(baseUrl, accessToken))] }
      : {
          limiterOptions: {
            minTime: Math.ceil(limit.perMs / (limit.requests * 0.9)),
            maxConcurrent: bucket === 'search' ? 1 : 4,
          },
        }),
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
