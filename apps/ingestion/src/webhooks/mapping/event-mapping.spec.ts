import { applyMapping, valueAt, type LeadMapping } from './event-mapping';
import { hubSpotMappings } from './hubspot.mappings';
import { shopifyMappings, shopifyTopicResources } from './shopify.mappings';
import {
  hubSpotBatch,
  hubSpotContactCreation,
  shopifyCustomer,
  shopifyOrder,
} from '../testing/webhook-samples';

function mapping(table: typeof hubSpotMappings, type: string) {
  const found = table[type];
  if (!found) throw new Error(`no mapping for ${type}`);
  return found;
}

describe('HubSpot mappings', () => {
  it('maps a workflow contact.creation with properties to a lead (email normalised, opt-out read as consent)', () => {
    expect(applyMapping(mapping(hubSpotMappings, 'contact.creation'), hubSpotContactCreation())).toEqual({
      ok: true,
      value: {
        kind: 'lead',
        externalId: '5101',
        email: 'grace.hopper@navy.example',
        firstName: 'Grace',
        lastName: 'Hopper',
        company: 'US Navy',
        consents: { email_marketing: true },
        occurredAt: 1717236000000,
      },
    });
  });

  it('maps the documented id-only contact.creation to a lead without email', () => {
    const result = applyMapping(mapping(hubSpotMappings, 'contact.creation'), hubSpotBatch[1]);
    expect(result).toMatchObject({ ok: true, value: { kind: 'lead', externalId: '1246978', email: null } });
  });

  it('maps contact.propertyChange to a record update carrying that one property', () => {
    expect(applyMapping(mapping(hubSpotMappings, 'contact.propertyChange'), hubSpotBatch[0])).toEqual({
      ok: true,
      value: {
        kind: 'record',
        objectType: 'contact',
        operation: 'update',
        externalId: '1246965',
        changedAt: 1462216307945,
        fields: { lifecyclestage: 'subscriber' },
      },
    });
  });

  it('names a missing objectId and a malformed email', () => {
    const { objectId: _omit, ...noId } = hubSpotContactCreation({ email: 'not-an-email' });
    const result = applyMapping(mapping(hubSpotMappings, 'contact.creation'), noId);
    expect(result).toEqual({
      ok: false,
      problems: [
        { field: 'objectId', reason: 'is required' },
        { field: 'properties.email', reason: 'must be a valid email address' },
      ],
    });
  });
});

describe('Shopify mappings', () => {
  it('maps customers/create to a lead with marketing consent and the default address company', () => {
    expect(applyMapping(mapping(shopifyMappings, 'customers/create'), shopifyCustomer())).toEqual({
      ok: true,
      value: {
        kind: 'lead',
        externalId: '6940734521500',
        email: 'bob@biller.example',
        firstName: 'Bob',
        lastName: 'Biller',
        company: 'Biller Inc.',
        consents: { email_marketing: true },
        occurredAt: Date.parse('2024-05-01T14:00:00Z'),
      },
    });
  });

  it('reads a not-subscribed consent state as refused', () => {
    const customer = { ...shopifyCustomer(), email_marketing_consent: { state: 'unsubscribed' } };
    const result = applyMapping(mapping(shopifyMappings, 'customers/create'), customer);
    expect(result).toMatchObject({ ok: true, value: { consents: { email_marketing: false } } });
  });

  it('maps orders/create to a record create with the order fields sync needs', () => {
    const result = applyMapping(mapping(shopifyMappings, 'orders/create'), shopifyOrder());
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'record',
        objectType: 'order',
        operation: 'create',
        externalId: '5461782921372',
        changedAt: Date.parse('2024-05-01T14:15:00Z'),
        fields: {
          name: '#1001',
          orderNumber: 1001,
          email: 'jon@example.com',
          customerId: 6940734521500,
          totalPrice: '199.00',
          subtotalPrice: '189.00',
          currency: 'USD',
          financialStatus: 'paid',
          fulfillmentStatus: null,
          cancelledAt: null,
          lineItems: shopifyOrder().line_items,
        },
      },
    });
  });

  it('refuses a payload that is not an object, or an order with wrongly typed id and date', () => {
    expect(applyMapping(mapping(shopifyMappings, 'orders/create'), [1, 2])).toEqual({
      ok: false,
      problems: [{ field: '(body)', reason: 'must be a JSON object' }],
    });
    const bad = { ...shopifyOrder(), id: { nested: true }, created_at: 'yesterday' };
    expect(applyMapping(mapping(shopifyMappings, 'orders/create'), bad)).toEqual({
      ok: false,
      problems: [
        { field: 'id', reason: 'must be a string or a number' },
        { field: 'created_at', reason: 'must be an ISO-8601 date-time or epoch milliseconds' },
      ],
    });
  });
});

describe('valueAt', () => {
  it('walks objects and arrays but never the prototype chain', () => {
    expect(valueAt({ a: [{ b: 'x' }] }, 'a.0.b')).toBe('x');
    expect(valueAt({}, 'constructor.name')).toBeUndefined();
    expect(valueAt(JSON.parse('{"__proto__":{"polluted":1}}'), '__proto__.polluted')).toBe(1);
    expect(valueAt({ a: 'str' }, 'a.length')).toBeUndefined();
  });

  it('takes the first path that holds a value', () => {
    const lead: LeadMapping = { produces: 'leads.captured', externalId: { from: ['missing', 'id'] } };
    expect(applyMapping(lead, { id: 7 })).toMatchObject({ ok: true, value: { externalId: '7' } });
  });
});

describe('Shopify topic resources', () => {
  it('names the Admin GraphQL type of every mapped topic’s resource, so the topic can be checked against the body', () => {
    const unnamed = Object.keys(shopifyMappings).filter(
      (topic) => !shopifyTopicResources[topic.split('/')[0] ?? ''],
    );
    expect(unnamed).toEqual([]);
  });
});
