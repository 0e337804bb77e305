/** HubSpot's CRM objects as the fake knows them: their properties, and the helpers its routes and search share. */
/** The CRM objects the fake keeps, by their v3 path name. */
export type HubSpotObjectType = 'contacts' | 'companies';

export type Json = Record<string, unknown>;

/** A request HubSpot refuses with 400 VALIDATION_ERROR, and HubSpot's message for it. */
export class ValidationError extends Error {}

/**
 * A write HubSpot refuses with 409 CONFLICT: a contact with that email exists ("Contact already exists. Existing ID:
 * 123", as HubSpot answers a create, batch create included: github.com/HubSpot/hubspot-api-python/issues/51).
 */
export class ConflictError extends ValidationError {}

export interface PropertyDefinition {
  type: 'string' | 'number' | 'datetime' | 'enumeration';
  /** Allowed values of an enumeration. */
  options?: readonly string[];
  /** Set by HubSpot itself; an API write of it is refused. */
  readOnly?: boolean;
  /** Checked as an email address. */
  email?: boolean;
}

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

const COMMON: Record<string, PropertyDefinition> = {
  hs_object_id: { type: 'number', readOnly: true },
  createdate: { type: 'datetime', readOnly: true },
  lastmodifieddate: { type: 'datetime', readOnly: true },
  lifecyclestage: { type: 'enumeration', options: LIFECYCLE_STAGES },
  city: { type: 'string' },
  country: { type: 'string' },
};

export const PROPERTIES: Record<HubSpotObjectType, Record<string, PropertyDefinition>> = {
  contacts: {
    ...COMMON,
    email: { type: 'string', email: true },
    firstname: { type: 'string' },
    lastname: { type: 'string' },
    phone: { type: 'string' },
    company: { type: 'string' },
    jobtitle: { type: 'string' },
    website: { type: 'string' },
    hs_lead_status: {
      type: 'enumeration',
      options: [
        'NEW',
        'OPEN',
        'IN_PROGRESS',
        'OPEN_DEAL',
        'UNQUALIFIED',
        'ATTEMPTED_TO_CONTACT',
        'CONNECTED',
      ],
    },
  },
  companies: {
    ...COMMON,
    name: { type: 'string' },
    domain: { type: 'string' },
    industry: { type: 'string' },
    numberofemployees: { type: 'number' },
    annualrevenue: { type: 'number' },
  },
};

/** What a search or read returns when it names no properties. */
export const DEFAULT_PROPERTIES: Record<HubSpotObjectType, readonly string[]> = {
  contacts: ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
  companies: ['createdate', 'domain', 'hs_object_id', 'lastmodifieddate', 'name'],
};

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A datetime filter value: epoch ms as a string, or an ISO date. */
export function timeOf(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value);
}
