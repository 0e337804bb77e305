/**
 * Realistic webhook payloads in the shapes HubSpot and Shopify document, for tests. Shopify ids are kept below
 * 2^53: JSON.parse would round larger ones (see the report on ids).
 */

/** HubSpot's documented v3 batch: a property change and a creation (subscription events carry ids only). */
export const hubSpotBatch = [
  {
    objectId: 1246965,
    propertyName: 'lifecyclestage',
    propertyValue: 'subscriber',
    changeSource: 'ACADEMY',
    eventId: 3816279340,
    subscriptionId: 25,
    portalId: 33,
    appId: 1160452,
    occurredAt: 1462216307945,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
  },
  {
    objectId: 1246978,
    changeSource: 'IMPORT',
    eventId: 3816279480,
    subscriptionId: 22,
    portalId: 33,
    appId: 1160452,
    occurredAt: 1462216307945,
    subscriptionType: 'contact.creation',
    attemptNumber: 0,
  },
];

/** A contact.creation sent by a workflow webhook, with the contact's properties. */
export function hubSpotContactCreation(overrides: { eventId?: number; email?: string } = {}) {
  return {
    objectId: 5101,
    changeSource: 'FORM',
    eventId: overrides.eventId ?? 4000001,
    subscriptionId: 22,
    portalId: 62515,
    appId: 1160452,
    occurredAt: 1717236000000,
    subscriptionType: 'contact.creation',
    attemptNumber: 0,
    properties: {
      email: overrides.email ?? 'Grace.Hopper@Navy.example',
      firstname: 'Grace',
      lastname: 'Hopper',
      company: 'US Navy',
      hs_email_optout: 'false',
    },
  };
}

export function hubSpotPropertyChange(overrides: { eventId?: number; objectId?: number } = {}) {
  return {
    objectId: overrides.objectId ?? 5101,
    propertyName: 'lifecyclestage',
    propertyValue: 'marketingqualifiedlead',
    changeSource: 'CRM_UI',
    eventId: overrides.eventId ?? 4000002,
    subscriptionId: 25,
    portalId: 62515,
    appId: 1160452,
    occurredAt: 1717236060000,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
  };
}

/**
 * Shopify customers/create (Admin REST webhook shape, abbreviated); `at` (ISO-8601) sets its created_at and
 * updated_at, which bound how old a delivery may be.
 */
export function shopifyCustomer(overrides: { id?: number; email?: string; at?: string } = {}) {
  const at = overrides.at ?? '2024-05-01T10:00:00-04:00';
  return {
    id: overrides.id ?? 6940734521500,
    email: overrides.email ?? 'Bob@Biller.example',
    created_at: at,
    updated_at: at,
    first_name: 'Bob',
    last_name: 'Biller',
    orders_count: 0,
    state: 'disabled',
    total_spent: '0.00',
    last_order_id: null,
    note: null,
    verified_email: true,
    tax_exempt: false,
    tags: '',
    currency: 'USD',
    phone: null,
    addresses: [],
    email_marketing_consent: {
      state: 'subscribed',
      opt_in_level: 'single_opt_in',
      consent_updated_at: at,
    },
    sms_marketing_consent: null,
    admin_graphql_api_id: 'gid://shopify/Customer/6940734521500',
    default_address: {
      id: 8812345678901,
      customer_id: 6940734521500,
      first_name: 'Bob',
      last_name: 'Biller',
      company: 'Biller Inc.',
      address1: '151 O’Connor Street',
      city: 'Ottawa',
      province: 'Ontario',
      country: 'Canada',
      zip: 'K2P 2L8',
      default: true,
    },
  };
}

/** Shopify orders/create (Admin REST webhook shape, abbreviated); `at` (ISO-8601) sets created_at and updated_at. */
export function shopifyOrder(overrides: { id?: number; at?: string } = {}) {
  return {
    id: overrides.id ?? 5461782921372,
    admin_graphql_api_id: `gid://shopify/Order/${overrides.id ?? 5461782921372}`,
    email: 'jon@example.com',
    created_at: overrides.at ?? '2024-05-01T10:15:00-04:00',
    updated_at: overrides.at ?? '2024-05-01T10:15:02-04:00',
    cancelled_at: null,
    currency: 'USD',
    financial_status: 'paid',
    fulfillment_status: null,
    name: '#1001',
    order_number: 1001,
    subtotal_price: '189.00',
    total_price: '199.00',
    test: false,
    customer: { id: 6940734521500, email: 'jon@example.com', first_name: 'Jon', last_name: 'Doe' },
    line_items: [{ id: 13640321171612, title: 'Trail Shoe', quantity: 1, price: '189.00', sku: 'TS-42' }],
  };
}

/** Shopify orders/delete: the deleted order's id alone, no state and no time of its own. */
export function shopifyOrderDeletion(overrides: { id?: number } = {}) {
  return { id: overrides.id ?? 5461782921372 };
}
