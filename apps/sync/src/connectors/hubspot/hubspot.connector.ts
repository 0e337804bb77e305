import type { Client } from '@hubspot/api-client';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/objects/models/Filter';
import {
  DelegateBackoff,
  decorrelatedJitterGenerator,
  handleWhen,
  retry,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import type { ChangeSource, ConnectorDescriptor, ConnectorObject, VendorRecord } from '../connector';
import {
  hubSpotClient,
  retryAfterMs,
  type HubSpotBuckets,
  type HubSpotClientOptions,
} from './hubspot-client';

const LIFECYCLE_STAGES = [
  'subscriber',
  'lead',
  'marketingqualifiedlead',
  'salesqualifiedlead',
  'opportunity',
  'customer',
  'evangelist',
  'other',
] as const;

/** HubSpot's limits for a private app of a Starter portal; change capture keeps to 90% of them. */
export const HUBSPOT_LIMITS = {
  requests: { requests: 100, perMs: 10_000 },
  search: { requests: 4, perMs: 1_000 },
  daily: { requests: 250_000, perMs: 86_400_000 },
} as const;

export const HUBSPOT: ConnectorDescriptor = {
  kind: 'hubspot',
  vendor: 'HubSpot',
  apiVersion: 'crm/v3',
  apiSunsetAt: null,
  capabilities: ['read-changes', 'receive-pushed', 'write', 'erase'],
  objects: [
    {
      entity: 'contact',
      vendorObject: 'contacts',
      fields: {
        email: { type: 'email', canonical: 'email' },
        firstname: { type: 'string', canonical: 'firstName' },
        lastname: { type: 'string', canonical: 'lastName' },
        phone: { type: 'phone', canonical: 'phone' },
        company: { type: 'string', canonical: 'company' },
        jobtitle: { type: 'string', canonical: 'title' },
        city: { type: 'string', canonical: 'city' },
        country: { type: 'string', canonical: 'country' },
        lifecyclestage: { type: 'picklist', options: LIFECYCLE_STAGES, canonical: 'lifecycleStage' },
        createdate: { type: 'datetime', readOnly: true },
        lastmodifieddate: { type: 'datetime', readOnly: true },
      },
    },
    {
      entity: 'company',
      vendorObject: 'companies',
      fields: {
        name: { type: 'string', canonical: 'name' },
        domain: { type: 'string', canonical: 'domain' },
        industry: { type: 'string', canonical: 'industry' },
        city: { type: 'string', canonical: 'city' },
        country: { type: 'string', canonical: 'country' },
        numberofemployees: { type: 'number', canonical: 'employees' },
        lifecyclestage: { type: 'picklist', options: LIFECYCLE_STAGES, canonical: 'lifecycleStage' },
        createdate: { type: 'datetime', readOnly: true },
        lastmodifieddate: { type: 'datetime', readOnly: true },
      },
    },
  ],
  rateLimits: HUBSPOT_LIMITS,
};

/** HubSpot's search caps a page at 200. */
export const HUBSPOT_SEARCH_PAGE = 200;

type SearchRequest = Parameters<Client['crm']['objects']['searchApi']['doSearch']>[1];
type SearchResult = Awaited<ReturnType<Client['crm']['objects']['searchApi']['doSearch']>>;

/** The SDK's error for an answer: its status (none when no answer came) and headers. */
interface SdkError {
  code?: unknown;
  headers?: Record<string, string>;
}

/** A 429, a 5xx or no answer at all (the network): worth another try. */
export function isTransient(error: Error): boolean {
  const { code } = error as SdkError;
  return typeof code === 'number' ? code === 429 || code >= 500 : error.name === 'FetchError';
}

/** Decorrelated jitter from about 200 ms up to 10 s, never shorter than the answer's Retry-After. */
const JITTER = { generator: decorrelatedJitterGenerator, initialDelay: 200, maxDelay: 10_000, exponent: 2 };
const retryBackoff = new DelegateBackoff<IRetryBackoffContext<unknown>, [number, number] | undefined>(
  (context, state) => {
    const [jitter, next] = decorrelatedJitterGenerator(state, JITTER);
    const error = 'error' in context.result ? (context.result.error as SdkError) : undefined;
    return { delay: Math.max(jitter, retryAfterMs(error?.headers) ?? 0), state: next };
  },
);

/**
 * HubSpot's CRM v3 through its official SDK (`@hubspot/api-client`): change capture by search on
 * `lastmodifieddate` and `hs_object_id`. With `options.budget`, every request takes from the account's budget shared
 * by all replicas (rate-budget.ts; a 429 pauses it for all); without, each bucket gets the SDK's per-process limiter.
 *
 * Retries are cockatiel's here, not the SDK's (whose retries wait a fixed 0.2, 1 or 10 s times the attempt, without
 * jitter and without reading Retry-After): a 429, 5xx or lost answer is tried again `retries` times (1 unless set)
 * after a decorrelated-jitter backoff, at least the answer's Retry-After. Few, as a replica polls its connections one
 * after the other and the next poll tries again from the cursor anyway; the circuit breaker is per connection object,
 * in its cursor (ChangeCapture), so every replica honours it.
 */
export class HubSpotChangeSource implements ChangeSource {
  private readonly search: Client;
  private readonly calls: Client;
  private readonly retry: RetryPolicy;

  constructor(
    baseUrl: string,
    accessToken: string,
    options: HubSpotClientOptions & { limits?: HubSpotBuckets } = {},
  ) {
    const limits = options.limits ?? HUBSPOT_LIMITS;
    const sdk = { ...options, retries: 0 };
    this.search = hubSpotClient(baseUrl, accessToken, 'search', limits.search, sdk);
    this.calls = hubSpotClient(baseUrl, accessToken, 'requests', limits.requests, sdk);
    this.retry = retry(handleWhen(isTransient), {
      maxAttempts: options.retries ?? 1,
      backoff: retryBackoff,
    });
  }

  async check(): Promise<void> {
    // Not retried: a connection's test reports what HubSpot answers now.
    await this.calls.crm.contacts.basicApi.getPage(1);
  }

  async modifiedAt(
    object: ConnectorObject,
    at: number,
    afterId: string,
    limit: number,
  ): Promise<VendorRecord[]> {
    const filters = [
      { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Eq, value: String(at) },
    ];
    if (afterId !== '')
      filters.push({ propertyName: 'hs_object_id', operator: FilterOperatorEnum.Gt, value: afterId });
    return this.find(object, { filterGroups: [{ filters }], sorts: ['hs_object_id'], limit });
  }

  async modifiedBetween(
    object: ConnectorObject,
    from: number,
    until: number,
    limit: number,
  ): Promise<VendorRecord[]> {
    const filters = [
      { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Gt, value: String(from) },
      { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Lte, value: String(until) },
    ];
    return this.find(object, { filterGroups: [{ filters }], sorts: ['lastmodifieddate'], limit });
  }

  /** Search's `total` for the range: one search of one result. */
  async count(object: ConnectorObject, from: number, until: number): Promise<number> {
    const searchApi = this.search.crm.objects.searchApi;
    const page: SearchResult = await this.retry.execute(() =>
      searchApi.doSearch(object.vendorObject, {
        filterGroups: [
          {
            filters: [
              { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Gt, value: String(from) },
              { propertyName: 'lastmodifieddate', operator: FilterOperatorEnum.Lte, value: String(until) },
            ],
          },
        ],
        limit: 1,
        properties: ['hs_object_id'],
      }),
    );
    return page.total;
  }

  /** Batch read, 100 ids a call (HubSpot's batch limit); ids that are gone are left out of the answer. */
  async read(object: ConnectorObject, ids: readonly string[]): Promise<VendorRecord[]> {
    const properties = Object.keys(object.fields);
    const records: VendorRecord[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const inputs = ids.slice(i, i + 100).map((id) => ({ id }));
      const answer = await this.retry.execute(() =>
        this.calls.crm.objects.batchApi.read(object.vendorObject, {
          inputs,
          properties,
          propertiesWithHistory: [],
        }),
      );
      records.push(...answer.results.map((result) => recordOf(result, properties)));
    }
    return records;
  }

  private async find(object: ConnectorObject, request: SearchRequest): Promise<VendorRecord[]> {
    const properties = Object.keys(object.fields);
    const api = this.search.crm.objects.searchApi;
    const page: SearchResult = await this.retry.execute(() =>
      api.doSearch(object.vendorObject, { ...request, properties }),
    );
    return page.results.map((result) => recordOf(result, properties));
  }
}

type HubSpotObject = SearchResult['results'][number];

function recordOf(result: HubSpotObject, properties: readonly string[]): VendorRecord {
  return {
    id: result.id,
    modifiedAt: Date.parse(result.properties['lastmodifieddate'] ?? '') || result.updatedAt.getTime(),
    createdAt: result.createdAt.getTime(),
    fields: Object.fromEntries(properties.map((name) => [name, result.properties[name] ?? null])),
  };
}
