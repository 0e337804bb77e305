import type { Client } from '@hubspot/api-client';
import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/objects/models/Filter';
import type { ChangeSource, ConnectorDescriptor, ConnectorObject, VendorRecord } from '../connector';
import { hubSpotClient, type HubSpotBuckets, type HubSpotClientOptions } from './hubspot-client';

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

/**
 * HubSpot's CRM v3 through its official SDK (`@hubspot/api-client`): change capture by search on
 * `lastmodifieddate` and `hs_object_id`. Searches and other calls get their own SDK limiter at 90% of HubSpot's limits
 * (per process: one replica polls a connection at a time), and the SDK retries 429 and 5xx as HubSpot advises.
 */
export class HubSpotChangeSource implements ChangeSource {
  private readonly search: Client;
  private readonly calls: Client;

  constructor(
    baseUrl: string,
    accessToken: string,
    options: HubSpotClientOptions & { limits?: HubSpotBuckets } = {},
  ) {
    const limits = options.limits ?? HUBSPOT_LIMITS;
    this.search = hubSpotClient(baseUrl, accessToken, 'search', limits.search, options);
    this.calls = hubSpotClient(baseUrl, accessToken, 'requests', limits.requests, options);
  }

  async check(): Promise<void> {
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
    const page: SearchResult = await this.search.crm.objects.searchApi.doSearch(object.vendorObject, {
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
    });
    return page.total;
  }

  /** Batch read, 100 ids a call (HubSpot's batch limit); ids that are gone are left out of the answer. */
  async read(object: ConnectorObject, ids: readonly string[]): Promise<VendorRecord[]> {
    const properties = Object.keys(object.fields);
    const records: VendorRecord[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const answer = await this.calls.crm.objects.batchApi.read(object.vendorObject, {
        inputs: ids.slice(i, i + 100).map((id) => ({ id })),
        properties,
        propertiesWithHistory: [],
      });
      records.push(...answer.results.map((result) => recordOf(result, properties)));
    }
    return records;
  }

  private async find(object: ConnectorObject, request: SearchRequest): Promise<VendorRecord[]> {
    const properties = Object.keys(object.fields);
    const api = this.search.crm.objects.searchApi;
    const page: SearchResult = await api.doSearch(object.vendorObject, { ...request, properties });
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
