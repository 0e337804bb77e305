import type { SourceMappings } from './event-mapping';

/**
 * HubSpot webhook subscriptions (v3 payloads: one array of events per request), by `subscriptionType`.
 * A subscription event carries ids only; contact fields come from `properties` when the sender adds them
 * (workflow "Send a webhook" actions do), so a plain contact.creation still yields a lead keyed by its objectId.
 */
export const hubSpotMappings: SourceMappings = {
  'contact.creation': {
    produces: 'leads.captured',
    externalId: { from: 'objectId' },
    email: { from: ['properties.email.value', 'properties.email'] },
    firstName: { from: ['properties.firstname.value', 'properties.firstname'] },
    lastName: { from: ['properties.lastname.value', 'properties.lastname'] },
    company: { from: ['properties.company.value', 'properties.company'] },
    consents: {
      email_marketing: { from: 'properties.hs_email_optout', grantedWhen: [false, 'false'] },
    },
    occurredAt: { from: 'occurredAt' },
  },
  'contact.propertyChange': {
    produces: 'records.changed',
    objectType: 'contact',
    operation: 'update',
    externalId: { from: 'objectId' },
    changedAt: { from: 'occurredAt' },
    fields: { property: { name: 'propertyName', value: 'propertyValue' } },
  },
  'contact.deletion': {
    produces: 'records.changed',
    objectType: 'contact',
    operation: 'delete',
    externalId: { from: 'objectId' },
    changedAt: { from: 'occurredAt' },
    fields: { pick: { changeSource: 'changeSource' } },
  },
  'company.propertyChange': {
    produces: 'records.changed',
    objectType: 'company',
    operation: 'update',
    externalId: { from: 'objectId' },
    changedAt: { from: 'occurredAt' },
    fields: { property: { name: 'propertyName', value: 'propertyValue' } },
  },
  'deal.propertyChange': {
    produces: 'records.changed',
    objectType: 'deal',
    operation: 'update',
    externalId: { from: 'objectId' },
    changedAt: { from: 'occurredAt' },
    fields: { property: { name: 'propertyName', value: 'propertyValue' } },
  },
};
